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
