//! Users and what they may do: the ACL (access control list) in Redis's model.
//!
//! A [`User`] is on or off, has SHA-256 hashes of its passwords (or `nopass`), a set of allowed
//! commands built from rules such as `+@read -del`, and the key patterns it may touch. The
//! [`Acl`] holds every user by name, always including `default`, the user a new connection
//! starts as. `--requirepass` (and `CONFIG SET requirepass`) sets the default user's password;
//! a `user default …` line of the ACL file (`--aclfile`) overrides it.
//!
//! Connections hold an `Arc<User>`, and `ACL SETUSER` changes a user in place, so a change
//! reaches every connection authenticated as that user at its next command. The permission
//! check costs one atomic load for a user allowed every command on every key (the default
//! user, and any `+@all ~*` user); only restricted users take the read lock.
//!
//! Supported subset (documented in the README): `on`, `off`, `>password`, `<password`,
//! `#hash`, `!hash`, `nopass`, `resetpass`, `+@category`, `-@category`, `+command`,
//! `-command`, `allcommands`, `nocommands`, `~pattern`, `allkeys`, `resetkeys`, `reset`, and
//! the channel rules `&pattern`, `allchannels`, `resetchannels` (checked on `PUBLISH`,
//! `SPUBLISH`, `SUBSCRIBE`, `SSUBSCRIBE` and `PSUBSCRIBE`).
//! Subcommand rules (`+config|get`, `-client|kill`) name the table's subcommand entries; a
//! command rule (`+config`) covers the command and all its subcommands. Selectors are not
//! supported.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};

use crate::command::{self, CommandSpec};
use crate::errors::Error;

// Redis's ACL categories (`CATEGORIES`), shared with `build.rs`, which checks the command table
// against them.
include!("acl_categories.rs");

/// A SHA-256 password hash.
type PasswordHash = [u8; 32];

/// A named user. The name never changes; everything else sits behind a lock.
pub struct User {
    name: String,
    rules: RwLock<Rules>,
    /// Every command on every key allowed: the permission check is skipped. Kept in step with
    /// `rules` by every change.
    unrestricted: AtomicBool,
}

/// What a user is allowed, and how `ACL LIST` describes it.
#[derive(Clone)]
struct Rules {
    enabled: bool,
    nopass: bool,
    passwords: Vec<PasswordHash>,
    /// Names of the allowed commands and subcommands (table names: `get`, `config|get`).
    commands: HashSet<&'static str>,
    /// The command rules as given, for `ACL LIST`: starts with `+@all` or `-@all`.
    command_rules: Vec<String>,
    all_keys: bool,
    key_patterns: Vec<Bytes>,
    all_channels: bool,
    channel_patterns: Vec<String>,
}

impl Rules {
    /// A new user's rules: off, no passwords, no commands, no keys, no channels.
    fn empty() -> Rules {
        Rules {
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            commands: HashSet::new(),
            command_rules: vec!["-@all".into()],
            all_keys: false,
            key_patterns: Vec::new(),
            all_channels: false,
            channel_patterns: Vec::new(),
        }
    }

    /// The default user before any configuration: on, no password, everything allowed.
    fn unrestricted() -> Rules {
        let mut rules = Rules::empty();
        rules.enabled = true;
        rules.nopass = true;
        rules.all_keys = true;
        rules.all_channels = true;
        rules.commands = command::all_entries().map(|spec| spec.name).collect();
        rules.command_rules = vec!["+@all".into()];
        rules
    }

    fn is_unrestricted(&self) -> bool {
        self.all_keys && self.commands.len() == command_count()
    }

    /// Applies one rule (`on`, `>pw`, `+@read`, `~lock:*` …); the error is the reason Redis
    /// gives after `modifier '<rule>': `.
    fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let text = std::str::from_utf8(rule).map_err(|_| SYNTAX_ERROR)?;
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.allow_all_keys(),
            "resetkeys" => {
                self.all_keys = false;
                self.key_patterns.clear();
            }
            "allchannels" => self.allow_all_channels(),
            "resetchannels" => {
                self.all_channels = false;
                self.channel_patterns.clear();
            }
            "allcommands" | "+@all" => self.set_all_commands(true),
            "nocommands" | "-@all" => self.set_all_commands(false),
            "reset" => *self = Rules::empty(),
            _ => return self.apply_prefixed(text, rule),
        }
        Ok(())
    }

    /// Rules that start with a sigil: passwords, hashes, keys, channels, commands.
    fn apply_prefixed(&mut self, text: &str, rule: &[u8]) -> Result<(), &'static str> {
        let Some(sigil) = text.chars().next() else {
            return Err(SYNTAX_ERROR);
        };
        let rest = &text[sigil.len_utf8()..];
        match sigil {
            '>' => {
                let hash = hash_password(&rule[1..]);
                if !self.passwords.contains(&hash) {
                    self.passwords.push(hash);
                }
                self.nopass = false;
            }
            '<' => {
                let hash = hash_password(&rule[1..]);
                let before = self.passwords.len();
                self.passwords.retain(|h| *h != hash);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist",
                    );
                }
            }
            '#' => {
                let hash = parse_hash(rest).ok_or(
                    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                )?;
                if !self.passwords.contains(&hash) {
                    self.passwords.push(hash);
                }
                self.nopass = false;
            }
            '!' => {
                let hash = parse_hash(rest).ok_or(
                    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                )?;
                let before = self.passwords.len();
                self.passwords.retain(|h| *h != hash);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist",
                    );
                }
            }
            '~' => {
                if self.all_keys {
                    return Err("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns");
                }
                if rest == "*" {
                    self.allow_all_keys();
                } else {
                    let pattern = Bytes::copy_from_slice(&rule[1..]);
                    if !self.key_patterns.contains(&pattern) {
                        self.key_patterns.push(pattern);
                    }
                }
            }
            '&' => {
                if self.all_channels {
                    return Err("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels");
                }
                if rest == "*" {
                    self.allow_all_channels();
                } else if !self.channel_patterns.iter().any(|p| p == rest) {
                    self.channel_patterns.push(rest.to_string());
                }
            }
            '+' | '-' => self.apply_command_rule(sigil == '+', &rest.to_ascii_lowercase())?,
            _ => return Err(SYNTAX_ERROR),
        }
        Ok(())
    }

    /// `+name`, `-name`, `+@category`, `-@category`.
    fn apply_command_rule(&mut self, allow: bool, target: &str) -> Result<(), &'static str> {
        let names: Vec<&'static str> = if let Some(category) = target.strip_prefix('@') {
            if !CATEGORIES.contains(&category) {
                return Err(UNKNOWN_NAME);
            }
            commands_in(category).map(|spec| spec.name).collect()
        } else {
            let spec = command::lookup_full(target.as_bytes()).ok_or(UNKNOWN_NAME)?;
            std::iter::once(spec)
                .chain(spec.subcommands)
                .map(|spec| spec.name)
                .collect()
        };
        for name in names {
            if allow {
                self.commands.insert(name);
            } else {
                self.commands.remove(name);
            }
        }
        let rule = format!("{}{target}", if allow { '+' } else { '-' });
        self.command_rules.retain(|r| *r != rule);
        self.command_rules.push(rule);
        Ok(())
    }

    fn set_all_commands(&mut self, allow: bool) {
        self.commands = if allow {
            command::all_entries().map(|spec| spec.name).collect()
        } else {
            HashSet::new()
        };
        self.command_rules = vec![if allow { "+@all" } else { "-@all" }.into()];
    }

    fn allow_all_keys(&mut self) {
        self.all_keys = true;
        self.key_patterns.clear();
    }

    fn allow_all_channels(&mut self) {
        self.all_channels = true;
        self.channel_patterns.clear();
    }

    /// The rules in `ACL LIST`'s form (without `user <name>`).
    fn describe(&self) -> String {
        let mut out = String::from(if self.enabled { "on" } else { "off" });
        if self.nopass {
            out.push_str(" nopass");
        }
        for hash in &self.passwords {
            out.push_str(" #");
            out.push_str(&hex(hash));
        }
        if self.all_keys {
            out.push_str(" ~*");
        }
        for pattern in &self.key_patterns {
            out.push_str(" ~");
            out.push_str(&String::from_utf8_lossy(pattern));
        }
        if self.all_channels {
            out.push_str(" &*");
        } else {
            out.push_str(" resetchannels");
            for pattern in &self.channel_patterns {
                let _ = write!(out, " &{pattern}");
            }
        }
        for rule in &self.command_rules {
            out.push(' ');
            out.push_str(rule);
        }
        out
    }
}

const SYNTAX_ERROR: &str = "Syntax error";
const UNKNOWN_NAME: &str = "Unknown command or category name in ACL";

static COMMAND_COUNT: LazyLock<usize> = LazyLock::new(|| command::all_entries().count());

fn command_count() -> usize {
    *COMMAND_COUNT
}

/// The commands and subcommands of one category, from the command table.
pub fn commands_in(category: &str) -> impl Iterator<Item = &'static CommandSpec> + '_ {
    command::all_entries().filter(move |spec| spec.categories.contains(&category))
}

/// SHA-256 of a password: what a user keeps instead of the password.
pub fn hash_password(password: &[u8]) -> PasswordHash {
    Sha256::digest(password).into()
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// A `#<hash>` rule's 64 lowercase hex digits.
fn parse_hash(text: &str) -> Option<PasswordHash> {
    if text.len() != 64 || !text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

impl User {
    fn new(name: &str, rules: Rules) -> User {
        let unrestricted = AtomicBool::new(rules.is_unrestricted());
        User {
            name: name.to_string(),
            rules: RwLock::new(rules),
            unrestricted,
        }
    }

    /// The user a connection starts as before the server's users are known: everything
    /// allowed. Connections replace it with the server's `default` user at once.
    pub fn placeholder() -> Arc<User> {
        static PLACEHOLDER: LazyLock<Arc<User>> =
            LazyLock::new(|| Arc::new(User::new("default", Rules::unrestricted())));
        PLACEHOLDER.clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the user is on and has no password: connections as this user need no `AUTH`.
    pub fn needs_no_password(&self) -> bool {
        let rules = self.rules.read();
        rules.enabled && rules.nopass
    }

    /// Checks that the user may run `spec` (a command or subcommand) with `args`: its command
    /// rules, its channel patterns, then its key patterns on every key the key specs find.
    /// Commands allowed before `AUTH` are always allowed, as in Redis. The caller words the
    /// refusal (a client, `EXEC` and a script each get Redis's own text).
    #[inline]
    pub fn check(&self, spec: &'static CommandSpec, args: &[Bytes]) -> Result<(), Denial> {
        if self.unrestricted.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.check_restricted(spec, args)
    }

    #[cold]
    fn check_restricted(&self, spec: &'static CommandSpec, args: &[Bytes]) -> Result<(), Denial> {
        match self.denial(spec, args) {
            None => Ok(()),
            Some(denial) => Err(denial),
        }
    }

    /// Why the user may not run `spec` with `args`, if it may not.
    fn denial(&self, spec: &'static CommandSpec, args: &[Bytes]) -> Option<Denial> {
        if spec.has(command::flags::NO_AUTH) {
            return None;
        }
        let rules = self.rules.read();
        if !rules.commands.contains(spec.name) {
            return Some(Denial::Command);
        }
        if let Some(channel) = denied_channel(&rules, spec, args) {
            return Some(Denial::Channel(channel));
        }
        if rules.all_keys {
            return None;
        }
        spec.key_positions(args)
            .find(|&position| {
                !rules
                    .key_patterns
                    .iter()
                    .any(|pattern| crate::glob::matches(pattern, &args[position]))
            })
            .map(|position| Denial::Key(args[position].clone()))
    }

    /// Whether the user's key patterns let it see `key` (for listings that name keys, such as
    /// `LOCK.LIST`, which must not show a restricted user the keys it may not touch).
    pub fn may_access_key(&self, key: &[u8]) -> bool {
        if self.unrestricted.load(Ordering::Relaxed) {
            return true;
        }
        let rules = self.rules.read();
        rules.all_keys
            || rules
                .key_patterns
                .iter()
                .any(|pattern| crate::glob::matches(pattern, key))
    }

    /// `ACL DRYRUN`'s explanation of a refusal, as Redis words it.
    pub fn denial_reason(&self, spec: &'static CommandSpec, args: &[Bytes]) -> String {
        match self.denial(spec, args) {
            None => String::new(),
            Some(Denial::Command) => format!(
                "This user has no permissions to run the '{}' command",
                spec.name
            ),
            Some(Denial::Key(key)) => format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(&key)
            ),
            Some(Denial::Channel(channel)) => format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(&channel)
            ),
        }
    }

    /// Whether `password` is one of the user's (constant time for each stored hash).
    fn password_matches(&self, password: &[u8]) -> bool {
        let rules = self.rules.read();
        if !rules.enabled {
            return false;
        }
        if rules.nopass {
            return true;
        }
        let given = hash_password(password);
        let mut matched = false;
        for hash in &rules.passwords {
            matched |= constant_time_eq(hash, &given);
        }
        matched
    }

    /// The user's line of `ACL LIST`.
    pub fn describe(&self) -> String {
        format!("user {} {}", self.name, self.rules.read().describe())
    }

    /// Fields of `ACL GETUSER`: flags, passwords, commands, keys, channels, selectors.
    pub fn fields(&self) -> UserFields {
        let rules = self.rules.read();
        let mut flags = vec![if rules.enabled { "on" } else { "off" }];
        if rules.nopass {
            flags.push("nopass");
        }
        let keys = if rules.all_keys {
            "~*".to_string()
        } else {
            let patterns: Vec<String> = rules
                .key_patterns
                .iter()
                .map(|p| format!("~{}", String::from_utf8_lossy(p)))
                .collect();
            patterns.join(" ")
        };
        let channels = if rules.all_channels {
            "&*".to_string()
        } else {
            let patterns: Vec<String> = rules
                .channel_patterns
                .iter()
                .map(|p| format!("&{p}"))
                .collect();
            patterns.join(" ")
        };
        UserFields {
            flags,
            passwords: rules.passwords.iter().map(|h| hex(h)).collect(),
            commands: rules.command_rules.join(" "),
            keys,
            channels,
        }
    }

    /// Applies rules all-or-nothing: on an error the user is left as it was.
    pub fn apply_rules<'a>(
        &self,
        rules: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), RuleError> {
        let mut updated = self.rules.read().clone();
        for rule in rules {
            updated.apply(rule).map_err(|reason| RuleError {
                rule: String::from_utf8_lossy(rule).into_owned(),
                reason,
            })?;
        }
        self.unrestricted
            .store(updated.is_unrestricted(), Ordering::Relaxed);
        *self.rules.write() = updated;
        Ok(())
    }
}

/// Why the ACL refuses a command: the rule that failed and what it named.
pub enum Denial {
    Command,
    Key(Bytes),
    Channel(Bytes),
}

/// The first channel of a pub/sub command outside the user's channel patterns. Channels must
/// match a pattern; a `PSUBSCRIBE` pattern must equal one (as in Redis).
fn denied_channel(rules: &Rules, spec: &CommandSpec, args: &[Bytes]) -> Option<Bytes> {
    if rules.all_channels {
        return None;
    }
    let channels = match spec.name {
        "publish" | "spublish" => args.get(1..2)?,
        "subscribe" | "ssubscribe" | "psubscribe" => args.get(1..)?,
        _ => return None,
    };
    let literal = spec.name == "psubscribe";
    channels
        .iter()
        .find(|channel| {
            !rules.channel_patterns.iter().any(|pattern| {
                if literal {
                    pattern.as_bytes() == &channel[..]
                } else {
                    crate::glob::matches(pattern.as_bytes(), channel)
                }
            })
        })
        .cloned()
}

/// Why `ACL SETUSER` failed.
pub enum SetUserError {
    /// A name with spaces or null characters.
    Name(Error),
    Rule(RuleError),
}

/// What `ACL GETUSER` shows of a user.
pub struct UserFields {
    pub flags: Vec<&'static str>,
    pub passwords: Vec<String>,
    pub commands: String,
    pub keys: String,
    pub channels: String,
}

/// A rule that could not be applied, and why.
#[derive(Debug)]
pub struct RuleError {
    pub rule: String,
    pub reason: &'static str,
}

/// Every user of the server, by name (sorted, as `ACL USERS` lists them).
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    default: Arc<User>,
}

impl Default for Acl {
    fn default() -> Self {
        Acl::new()
    }
}

impl Acl {
    /// Only the `default` user: on, no password, everything allowed.
    pub fn new() -> Acl {
        let default = Arc::new(User::new("default", Rules::unrestricted()));
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), default.clone());
        Acl {
            users: RwLock::new(users),
            default,
        }
    }

    /// The users of an ACL file's text, on top of `requirepass` for the default user.
    /// Errors name the line, as Redis does when it loads a file.
    pub fn from_file_text(text: &str, requirepass: Option<&str>) -> Result<Acl, String> {
        let acl = Acl::new();
        acl.set_default_password(requirepass);
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let fail = |reason: &str| format!("line {}: {reason}", index + 1);
            let [keyword, name, rules @ ..] = words.as_slice() else {
                return Err(fail("a user line is 'user <name> <rules>…'"));
            };
            if *keyword != "user" {
                return Err(fail("lines must start with 'user'"));
            }
            let user = acl.get_or_create(name.as_bytes()).map_err(|e| fail(&e.0))?;
            if *name == "default" {
                // The file describes the default user in full: start from nothing.
                let _ = user.apply_rules([&b"reset"[..]]);
            }
            user.apply_rules(rules.iter().map(|r| r.as_bytes()))
                .map_err(|e| fail(&format!("Error in user rule '{}': {}", e.rule, e.reason)))?;
        }
        Ok(acl)
    }

    pub fn default_user(&self) -> Arc<User> {
        self.default.clone()
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        let name = std::str::from_utf8(name).ok()?;
        self.users.read().get(name).cloned()
    }

    /// The user called `name`, created (off, nothing allowed) if it does not exist.
    pub fn get_or_create(&self, name: &[u8]) -> Result<Arc<User>, Error> {
        let name = validate_name(name)?;
        let mut users = self.users.write();
        Ok(users
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(User::new(name, Rules::empty())))
            .clone())
    }

    /// `ACL SETUSER`: changes the user `name` (creating it if needed) by `rules`, all or
    /// none; a user that does not exist is not created when a rule fails.
    pub fn set_user<'a>(
        &self,
        name: &[u8],
        rules: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), SetUserError> {
        let checked = validate_name(name).map_err(SetUserError::Name)?;
        if let Some(user) = self.get(name) {
            return user.apply_rules(rules).map_err(SetUserError::Rule);
        }
        let user = User::new(checked, Rules::empty());
        user.apply_rules(rules).map_err(SetUserError::Rule)?;
        let mut users = self.users.write();
        // Created meanwhile by another client: theirs stays (as if they ran second).
        users
            .entry(checked.to_string())
            .or_insert_with(|| Arc::new(user));
        Ok(())
    }

    /// Removes a user (never `default`); whether it existed.
    pub fn remove(&self, name: &[u8]) -> bool {
        let Ok(name) = std::str::from_utf8(name) else {
            return false;
        };
        name != "default" && self.users.write().remove(name).is_some()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// `AUTH user password`: the user if it is on and the password is one of its own (any
    /// password for a `nopass` user), else Redis's `WRONGPASS`.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Result<Arc<User>, Error> {
        match self.get(name) {
            Some(user) if user.password_matches(password) => Ok(user),
            _ => Err(crate::errors::WRONGPASS),
        }
    }

    /// `requirepass`: sets the default user's only password, or `nopass` for `None`.
    pub fn set_default_password(&self, password: Option<&str>) {
        let rules: Vec<Vec<u8>> = match password {
            Some(password) => vec![b"resetpass".to_vec(), format!(">{password}").into_bytes()],
            None => vec![b"nopass".to_vec()],
        };
        let _ = self.default.apply_rules(rules.iter().map(|r| &r[..]));
    }

    /// Whether a new connection must authenticate: the default user is off or has a
    /// password.
    pub fn requires_auth(&self) -> bool {
        !self.default.needs_no_password()
    }
}

/// A user name: no spaces or null characters (Redis's rule), and UTF-8.
fn validate_name(name: &[u8]) -> Result<&str, Error> {
    if name.iter().any(|&c| c == b' ' || c == 0) {
        return Err(Error::fixed(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    std::str::from_utf8(name).map_err(|_| Error::fixed("ERR Usernames must be valid UTF-8"))
}

/// Protected mode: whether a connection from `peer` must be refused with [`DENIED`]. Redis's
/// rule: protected mode is on, the default user needs no password, and the client does not
/// come from the loopback interface. A server bound to loopback only ever sees loopback
/// clients, so binding to a public address is what makes this matter.
pub fn protected_mode_denies(
    protected_mode: bool,
    default_needs_no_password: bool,
    peer: std::net::IpAddr,
) -> bool {
    protected_mode && default_needs_no_password && !is_loopback(peer)
}

/// 127.0.0.0/8, `::1`, and IPv4 loopback addresses mapped into IPv6.
pub fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The line a protected server sends a non-loopback client before closing, as Redis 7 words
/// it.
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    /// `Ok`, or the refusal as `ACL DRYRUN` words it.
    fn check(user: &User, words: &[&str]) -> Result<(), String> {
        let args = args(words);
        let spec = command::spec::resolve(&args).ok().unwrap();
        user.check(spec, &args)
            .map_err(|_| user.denial_reason(spec, &args))
    }

    #[test]
    fn categories_and_commands() {
        let acl = Acl::new();
        let user = acl.get_or_create(b"alice").unwrap();
        user.apply_rules([&b"on"[..], b">pw", b"+@read", b"+set", b"-mget", b"~lock:*"])
            .unwrap();
        assert!(check(&user, &["GET", "lock:1"]).is_ok());
        assert!(check(&user, &["SET", "lock:1", "v"]).is_ok());
        assert_eq!(
            check(&user, &["DEL", "lock:1"]).unwrap_err(),
            "This user has no permissions to run the 'del' command"
        );
        assert_eq!(
            check(&user, &["MGET", "lock:1"]).unwrap_err(),
            "This user has no permissions to run the 'mget' command"
        );
        assert_eq!(
            check(&user, &["GET", "other"]).unwrap_err(),
            "This user has no permissions to access the 'other' key"
        );
        assert_eq!(
            check(&user, &["CONFIG", "GET", "x"]).unwrap_err(),
            "This user has no permissions to run the 'config|get' command"
        );
        assert_eq!(
            check(&user, &["ZUNION", "2", "lock:1", "secret"]).unwrap_err(),
            "This user has no permissions to access the 'secret' key"
        );
        assert!(check(&user, &["AUTH", "x"]).is_ok());
        assert_eq!(
            user.describe(),
            "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~lock:* resetchannels -@all +@read +set -mget"
        );
    }

    #[test]
    fn subcommand_rules() {
        let acl = Acl::new();
        let user = acl.get_or_create(b"sub").unwrap();
        user.apply_rules([
            &b"on"[..],
            b"allkeys",
            b"+config|get",
            b"+client",
            b"-client|kill",
        ])
        .unwrap();
        assert!(check(&user, &["CONFIG", "GET", "x"]).is_ok());
        assert_eq!(
            check(&user, &["CONFIG", "SET", "x", "y"]).unwrap_err(),
            "This user has no permissions to run the 'config|set' command"
        );
        assert!(check(&user, &["CLIENT", "ID"]).is_ok());
        assert!(check(&user, &["CLIENT", "KILL", "ID", "1"]).is_err());
        assert_eq!(
            user.apply_rules([&b"+config|nope"[..]]).unwrap_err().reason,
            UNKNOWN_NAME
        );
    }

    #[test]
    fn rules_apply_all_or_nothing() {
        let acl = Acl::new();
        let user = acl.get_or_create(b"bob").unwrap();
        let error = user.apply_rules([&b"on"[..], b"+@bogus"]).unwrap_err();
        assert_eq!(error.rule, "+@bogus");
        assert_eq!(error.reason, UNKNOWN_NAME);
        assert_eq!(user.describe(), "user bob off resetchannels -@all");
        assert_eq!(
            user.apply_rules([&b"weird"[..]]).unwrap_err().reason,
            SYNTAX_ERROR
        );
    }

    #[test]
    fn passwords() {
        let acl = Acl::new();
        let user = acl.get_or_create(b"carol").unwrap();
        user.apply_rules([&b"on"[..], b">a", b">b"]).unwrap();
        assert!(acl.authenticate(b"carol", b"a").is_ok());
        assert!(acl.authenticate(b"carol", b"b").is_ok());
        assert!(acl.authenticate(b"carol", b"c").is_err());
        user.apply_rules([&b"<a"[..]]).unwrap();
        assert!(acl.authenticate(b"carol", b"a").is_err());
        user.apply_rules([&b"off"[..]]).unwrap();
        assert!(acl.authenticate(b"carol", b"b").is_err());
        assert!(acl.authenticate(b"nobody", b"b").is_err());
        user.apply_rules([&b"on"[..], b"nopass"]).unwrap();
        assert!(acl.authenticate(b"carol", b"anything").is_ok());
    }

    #[test]
    fn default_user_and_requirepass() {
        let acl = Acl::new();
        assert!(!acl.requires_auth());
        acl.set_default_password(Some("pw"));
        assert!(acl.requires_auth());
        assert!(acl.authenticate(b"default", b"pw").is_ok());
        acl.set_default_password(None);
        assert!(!acl.requires_auth());
        assert_eq!(
            acl.default_user().describe(),
            "user default on nopass ~* &* +@all"
        );
    }

    #[test]
    fn file_overrides_default() {
        let text = "# users\nuser default on >admin ~* &* +@all\n\nuser app on >apppw ~app:* +@read +@write -@dangerous\n";
        let acl = Acl::from_file_text(text, Some("ignored")).unwrap();
        assert!(acl.authenticate(b"default", b"ignored").is_err());
        assert!(acl.authenticate(b"default", b"admin").is_ok());
        assert!(acl.authenticate(b"app", b"apppw").is_ok());
        let error = Acl::from_file_text("user x on +nosuch\n", None)
            .err()
            .unwrap();
        assert_eq!(
            error,
            "line 1: Error in user rule '+nosuch': Unknown command or category name in ACL"
        );
        assert!(Acl::from_file_text("group x\n", None).is_err());
    }

    #[test]
    fn protected_mode_rule() {
        let public: IpAddr = "203.0.113.5".parse().unwrap();
        let private: IpAddr = "10.1.2.3".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let loopback2: IpAddr = "127.8.9.10".parse().unwrap();
        let v6_loopback: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let v6_public: IpAddr = "2001:db8::1".parse().unwrap();
        for peer in [public, private, v6_public] {
            assert!(protected_mode_denies(true, true, peer));
            assert!(!protected_mode_denies(false, true, peer));
            assert!(!protected_mode_denies(true, false, peer));
        }
        for peer in [loopback, loopback2, v6_loopback, mapped] {
            assert!(!protected_mode_denies(true, true, peer));
        }
    }

    #[test]
    fn hash_rules() {
        let acl = Acl::new();
        let user = acl.get_or_create(b"dave").unwrap();
        let hash = hex(&hash_password(b"pw"));
        user.apply_rules([b"on".as_slice(), format!("#{hash}").as_bytes()])
            .unwrap();
        assert!(acl.authenticate(b"dave", b"pw").is_ok());
        assert!(user.apply_rules([&b"#abc"[..]]).is_err());
    }
}
