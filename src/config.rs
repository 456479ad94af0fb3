//! Settings: the command line (clap), each flag also read from a `LATCHKEY_*` variable.

use clap::Parser;

/// latchkey: a Redis-compatible lock server.
#[derive(Parser, Clone, Debug)]
#[command(name = "latchkey", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LATCHKEY_BIND", default_value = "127.0.0.1")]
    pub bind: String,

    /// TCP port; 0 picks a free one (the start line names it).
    #[arg(long, env = "LATCHKEY_PORT", default_value_t = 6379)]
    pub port: u16,

    /// Number of databases (`SELECT 0` … `SELECT n-1`).
    #[arg(long, env = "LATCHKEY_DATABASES", default_value_t = 16)]
    pub databases: usize,

    /// Shards per database (rounded up to a power of two); default 4 × cores.
    #[arg(long, env = "LATCHKEY_SHARDS")]
    pub shards: Option<usize>,

    /// Password clients must give with AUTH (default user).
    #[arg(long, env = "LATCHKEY_REQUIREPASS")]
    pub requirepass: Option<String>,

    /// Most clients connected at once.
    #[arg(long, env = "LATCHKEY_MAXCLIENTS", default_value_t = 10000)]
    pub maxclients: usize,

    /// Longest bulk string a request may carry, in bytes.
    #[arg(long, env = "LATCHKEY_PROTO_MAX_BULK_LEN", default_value_t = 512 * 1024 * 1024)]
    pub proto_max_bulk_len: u64,

    /// Active expiry runs this many times a second.
    #[arg(long, env = "LATCHKEY_HZ", default_value_t = 10)]
    pub hz: u32,

    /// Milliseconds a script may run before other clients get `BUSY` and `SCRIPT KILL` works.
    #[arg(long, env = "LATCHKEY_LUA_TIME_LIMIT", default_value_t = 5000)]
    pub lua_time_limit: u64,

    /// Close a client idle for this many seconds (0: never). Clients waiting in a blocking
    /// command count as idle.
    #[arg(long, env = "LATCHKEY_TIMEOUT", default_value_t = 0)]
    pub timeout: u64,

    /// Memory limit in bytes (0: none). Past it, commands that may grow memory get Redis's
    /// `OOM` error; reads and deletes still work. latchkey never evicts (`noeviction`).
    #[arg(long, env = "LATCHKEY_MAXMEMORY", default_value_t = 0)]
    pub maxmemory: u64,

    // Limits (see `crate::limits`).
    /// Output buffer limits per client class, as Redis's `client-output-buffer-limit`:
    /// `class hard soft seconds …`; classes not named keep Redis's defaults
    /// (`normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60`).
    #[arg(long, env = "LATCHKEY_CLIENT_OUTPUT_BUFFER_LIMIT", default_value = "",
          value_parser = crate::limits::OutputBufferLimits::parse)]
    pub client_output_buffer_limit: crate::limits::OutputBufferLimits,

    /// Close a client whose unparsed input passes this many bytes.
    #[arg(long, env = "LATCHKEY_CLIENT_QUERY_BUFFER_LIMIT", default_value_t = 1024 * 1024 * 1024)]
    pub client_query_buffer_limit: u64,

    /// TCP keepalive time of client sockets in seconds (0: off).
    #[arg(long, env = "LATCHKEY_TCP_KEEPALIVE", default_value_t = 300)]
    pub tcp_keepalive: u64,

    /// Keyspace notification classes, in Redis's letters (`KEA`, `Ex`, …); empty: none.
    // Stored in Redis's normal form (`KEA` becomes `AKE`); whatever publishes keyspace
    // notifications reads it from here, `CONFIG SET notify-keyspace-events` writes it.
    #[arg(long, env = "LATCHKEY_NOTIFY_KEYSPACE_EVENTS", default_value = "",
          value_parser = normalize_keyspace_events)]
    pub notify_keyspace_events: String,

    /// A file of users in Redis's ACL format (`user <name> on >password +@read ~key:*`); see
    /// the README for the supported rules. A `user default …` line overrides `--requirepass`.
    #[arg(long, env = "LATCHKEY_ACLFILE")]
    pub aclfile: Option<std::path::PathBuf>,

    /// Protected mode (`yes`/`no`): while the default user has no password, refuse clients
    /// that do not connect from the loopback interface, as Redis does.
    #[arg(long, env = "LATCHKEY_PROTECTED_MODE", default_value = "yes", value_parser = yes_no,
          action = clap::ArgAction::Set)]
    pub protected_mode: bool,

    /// Also listen for TLS connections on this port (0 picks a free one; the start line names
    /// it). Needs `--tls-cert-file` and `--tls-key-file`.
    #[arg(long, env = "LATCHKEY_TLS_PORT")]
    pub tls_port: Option<u16>,

    /// The server's certificate chain, PEM.
    #[arg(long, env = "LATCHKEY_TLS_CERT_FILE")]
    pub tls_cert_file: Option<std::path::PathBuf>,

    /// The server certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "LATCHKEY_TLS_KEY_FILE")]
    pub tls_key_file: Option<std::path::PathBuf>,

    /// CA certificates, PEM: when given, TLS clients must present a certificate signed by
    /// one of them.
    #[arg(long, env = "LATCHKEY_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<std::path::PathBuf>,

    /// Do not listen for plain (non-TLS) connections: TLS only. Needs `--tls-port`.
    #[arg(long, env = "LATCHKEY_NO_PLAIN")]
    pub no_plain: bool,

    // Persistence (see `crate::persist`), with Redis's names.
    /// Log every write to the append-only file (`yes`/`no`) and load it at start.
    #[arg(long, env = "LATCHKEY_APPENDONLY", default_value = "no", value_parser = yes_no,
          action = clap::ArgAction::Set)]
    pub appendonly: bool,

    /// When the append-only file is fsynced: `always` (before each reply), `everysec`, `no`.
    #[arg(long, env = "LATCHKEY_APPENDFSYNC", default_value = "everysec",
          value_parser = appendfsync)]
    pub appendfsync: String,

    /// The directory the append-only file's directory is created in.
    #[arg(long, env = "LATCHKEY_DIR", default_value = ".")]
    pub dir: std::path::PathBuf,

    /// The base name of the append-only files.
    #[arg(
        long,
        env = "LATCHKEY_APPENDFILENAME",
        default_value = "appendonly.aof"
    )]
    pub appendfilename: String,

    /// The directory (inside `--dir`) holding the append-only files and their manifest.
    #[arg(long, env = "LATCHKEY_APPENDDIRNAME", default_value = "appendonlydir")]
    pub appenddirname: String,

    /// Rewrite the append-only file when it grew by this percentage since the last rewrite
    /// (0: never automatically).
    #[arg(
        long,
        env = "LATCHKEY_AUTO_AOF_REWRITE_PERCENTAGE",
        default_value_t = 100
    )]
    pub auto_aof_rewrite_percentage: u64,

    /// … and is at least this many bytes.
    #[arg(long, env = "LATCHKEY_AUTO_AOF_REWRITE_MIN_SIZE", default_value_t = 64 * 1024 * 1024)]
    pub auto_aof_rewrite_min_size: u64,

    /// For this many milliseconds after start, commands that would grant a lock (`SET … NX`,
    /// `LOCK.ACQUIRE`, scripts that may write) get `LOADING`, so that leases granted before
    /// a restart have run out first. Skipped when the append-only file was loaded. Set it to
    /// the longest lease clients use.
    #[arg(long, env = "LATCHKEY_RESTART_GRACE", default_value_t = 0)]
    pub restart_grace: u64,

    /// Who may run `DEBUG` (Redis 7's `enable-debug-command`): `yes` (every client), `local`
    /// (clients on the loopback interface), `no` (none). Fixed at start-up, as in Redis.
    #[arg(long, env = "LATCHKEY_ENABLE_DEBUG_COMMAND", default_value = "local",
          value_parser = DebugAccess::parse)]
    pub enable_debug_command: DebugAccess,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "LATCHKEY_LOG_LEVEL", default_value = "warn")]
    pub log_level: String,
}

impl Default for Config {
    /// The defaults of the command line, with port 0: what an embedded server wants.
    fn default() -> Self {
        let mut config = Config::parse_from(["latchkey"]);
        config.port = 0;
        config
    }
}

impl Config {
    /// Shards per database after applying the default.
    pub fn shards_per_db(&self) -> usize {
        self.shards
            .unwrap_or_else(|| 4 * std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

/// Reads a Redis-style boolean: `yes` or `no`, any case.
/// Who may run `DEBUG`: Redis 7's `enable-debug-command` values. `DEBUG ADVANCE` moves the clock
/// every client sees, so it is not for any client that can connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugAccess {
    Yes,
    Local,
    No,
}

impl DebugAccess {
    /// Reads `yes`, `local` or `no` (any case), with Redis's error for anything else.
    pub fn parse(value: &str) -> Result<DebugAccess, String> {
        match value.to_ascii_lowercase().as_str() {
            "yes" => Ok(DebugAccess::Yes),
            "local" => Ok(DebugAccess::Local),
            "no" => Ok(DebugAccess::No),
            _ => Err("argument(s) must be one of the following: no, yes, local".to_string()),
        }
    }

    /// The value as `CONFIG GET` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            DebugAccess::Yes => "yes",
            DebugAccess::Local => "local",
            DebugAccess::No => "no",
        }
    }

    /// Whether a client connected from `peer` may run `DEBUG`. "Local" is the loopback
    /// interface, as protected mode reads it ([`crate::acl::is_loopback`]).
    pub fn allows(self, peer: std::net::IpAddr) -> bool {
        match self {
            DebugAccess::Yes => true,
            DebugAccess::Local => crate::acl::is_loopback(peer),
            DebugAccess::No => false,
        }
    }
}

pub fn yes_no(value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".to_string())
    }
}

/// Reads an `appendfsync` policy (`always`, `everysec`, `no`) in lower case.
pub fn appendfsync(value: &str) -> Result<String, String> {
    crate::persist::Fsync::parse(value).map(|policy| policy.name().to_string())
}

/// Reads a `notify-keyspace-events` value as Redis does and returns it in Redis's normal form
/// (`KEA` becomes `AKE`, `Exg` becomes `gxE`), or the error Redis gives for a bad letter.
pub fn normalize_keyspace_events(value: &str) -> Result<String, String> {
    crate::notify::parse_flags(value.as_bytes())
        .map(crate::notify::flags_to_string)
        .map_err(|_| crate::notify::INVALID_FLAGS.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_events_normalised_like_redis() {
        assert_eq!(normalize_keyspace_events("KEA").unwrap(), "AKE");
        assert_eq!(normalize_keyspace_events("Exg").unwrap(), "gxE");
        assert_eq!(normalize_keyspace_events("").unwrap(), "");
        assert_eq!(normalize_keyspace_events("Kmn").unwrap(), "nKm");
        assert_eq!(normalize_keyspace_events("AnE").unwrap(), "AE");
        assert!(normalize_keyspace_events("q").is_err());
    }
}
