//! The daemon's configuration: TOML, every key optional, unknown keys an
//! error. The documented default file is compiled in, so the defaults and
//! their documentation cannot drift apart (a test parses one into the other).

pub use crate::config_dbus::DbusConfig;
pub use crate::config_phone::PhoneConfig;
pub use crate::config_remote::{RemoteConfig, UpstreamConfig};
pub use crate::config_store::{Backend, StoreConfig};
pub use crate::site_policy::{EnrollmentConfig, PolicyConfig};
use mfa_proto::Algorithm;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The shipped, commented default configuration.
pub const DEFAULT_TOML: &str = include_str!("../mfad.toml");
/// Where the packaged daemon looks for its configuration.
pub const DEFAULT_PATH: &str = "/etc/mfad/mfad.toml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub key_file: PathBuf,
    pub admin_group: String,
    pub protected_groups: Vec<String>,
    pub issuer: String,
    pub hostname: String,
    pub totp: TotpConfig,
    pub limits: LimitsConfig,
    pub server: ServerConfig,
    pub push: PushConfig,
    pub enrollment: EnrollmentConfig,
    pub policy: PolicyConfig,
    pub phone: PhoneConfig,
    pub store: StoreConfig,
    pub remote: RemoteConfig,
    pub upstream: UpstreamConfig,
    pub dbus: DbusConfig,
}

/// Push approval. Off until `gateway_user` names the gateway's account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    pub gateway_user: String,
    pub timeout_secs: u64,
    pub max_per_window: u32,
    pub window_secs: u64,
    pub number_digits: u8,
    pub deny_block_secs: u64,
    pub report_block_secs: u64,
    /// How often a waiting login re-reads its push without a wake-up.
    pub reread_secs: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            gateway_user: String::new(),
            timeout_secs: 60,
            max_per_window: 5,
            window_secs: 900,
            number_digits: 2,
            deny_block_secs: 300,
            report_block_secs: 86400,
            reread_secs: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpConfig {
    pub algorithm: Algorithm,
    pub digits: u8,
    pub period: u64,
    pub skew: u8,
    pub pending_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub free_failures: u32,
    pub delay_secs: u64,
    pub max_delay_secs: u64,
    pub lockout_failures: u32,
    /// Read from the key's first name too (0.1.0's shipped file had
    /// `host_free_failures`, counted per failure), so an edited conffile
    /// kept on upgrade still starts.
    #[serde(alias = "host_free_failures")]
    pub host_free_accounts: u32,
    pub host_window_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub max_connections: usize,
    pub max_connections_per_uid: usize,
    pub idle_timeout_secs: u64,
    pub frame_timeout_secs: u64,
    pub user_rate: u32,
    pub user_burst: u32,
    pub users_rate: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: PathBuf::from("/run/mfad.sock"),
            state_dir: PathBuf::from("/var/lib/mfad"),
            key_file: PathBuf::new(),
            admin_group: String::new(),
            protected_groups: vec!["sudo".into()],
            issuer: "pam_mfa".into(),
            hostname: String::new(),
            totp: TotpConfig::default(),
            limits: LimitsConfig::default(),
            server: ServerConfig::default(),
            push: PushConfig::default(),
            enrollment: EnrollmentConfig::default(),
            policy: PolicyConfig::default(),
            phone: PhoneConfig::default(),
            store: StoreConfig::default(),
            remote: RemoteConfig::default(),
            upstream: UpstreamConfig::default(),
            dbus: DbusConfig::default(),
        }
    }
}

impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            skew: 1,
            pending_secs: 600,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            free_failures: 3,
            delay_secs: 30,
            max_delay_secs: 3600,
            lockout_failures: 100,
            host_free_accounts: 10,
            host_window_secs: 3600,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 256,
            max_connections_per_uid: 8,
            idle_timeout_secs: 120,
            frame_timeout_secs: 5,
            user_rate: 20,
            user_burst: 40,
            users_rate: 1000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
}

impl Config {
    /// Parse and validate TOML text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: origin.into(),
            source,
        })?;
        cfg.validate().map_err(|msg| ConfigError::Invalid {
            path: origin.into(),
            msg,
        })?;
        Ok(cfg)
    }

    /// Load a file. A missing file is an error only when `required`; the
    /// packaged default path may be absent and then the defaults apply.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let t = &self.totp;
        if !(6..=8).contains(&t.digits) {
            return Err(format!("totp.digits must be 6, 7 or 8, not {}", t.digits));
        }
        if !crate::otp::PERIODS.contains(&t.period) {
            return Err(format!(
                "totp.period must be 15..=120 seconds, not {}",
                t.period
            ));
        }
        if t.skew > 2 {
            return Err(format!("totp.skew must be at most 2 steps, not {}", t.skew));
        }
        let l = &self.limits;
        if l.lockout_failures == 0 || l.lockout_failures > 100 {
            return Err(format!(
                "limits.lockout_failures must be 1..=100 (NIST SP 800-63B), not {}",
                l.lockout_failures
            ));
        }
        if l.host_free_accounts < 2 {
            return Err(format!(
                "limits.host_free_accounts must be at least 2 (one account's failures must never delay its host), not {}",
                l.host_free_accounts
            ));
        }
        if l.delay_secs == 0 || l.max_delay_secs < l.delay_secs {
            return Err("limits.delay_secs must be > 0 and <= limits.max_delay_secs".into());
        }
        const WEEK: u64 = 7 * 24 * 3600;
        for (name, v) in [
            ("limits.max_delay_secs", l.max_delay_secs),
            ("limits.host_window_secs", l.host_window_secs),
            ("totp.pending_secs", t.pending_secs),
        ] {
            if v > WEEK {
                return Err(format!(
                    "{name} must be at most one week ({WEEK} s), not {v}"
                ));
            }
        }
        if self.server.max_connections_per_uid == 0 {
            return Err("server.max_connections_per_uid must be at least 1".into());
        }
        if self.server.user_rate == 0 || self.server.user_burst == 0 || self.server.users_rate == 0
        {
            return Err(
                "server.user_rate, server.user_burst and server.users_rate must be at least 1"
                    .into(),
            );
        }
        if self.server.max_connections == 0 {
            return Err("server.max_connections must be at least 1".into());
        }
        if self.server.frame_timeout_secs == 0 || self.server.idle_timeout_secs == 0 {
            return Err("server timeouts must be at least 1 second".into());
        }
        self.validate_push()?;
        self.policy.validate()?;
        self.phone.validate()?;
        self.store.validate()?;
        self.remote.validate()?;
        self.upstream.validate()?;
        self.dbus.validate()?;
        if self.upstream.enabled() && self.dbus.enable {
            return Err("a relay ([upstream]) cannot serve D-Bus ([dbus]): it holds no accounts; serve it from an mfad with a store".into());
        }
        if self.upstream.enabled() && self.remote.enabled() {
            return Err("a relay ([upstream]) cannot also serve lab machines ([remote]); chains of relays are not supported".into());
        }
        if self.upstream.enabled() && self.store.backend != Backend::Sqlite {
            return Err(
                "a relay ([upstream]) keeps no state: remove [store] from its configuration".into(),
            );
        }
        self.enrollment.deadline_unix()?;
        if self.issuer.is_empty() || self.issuer.contains(':') {
            return Err("issuer must be non-empty and contain no ':'".into());
        }
        Ok(())
    }

    fn validate_push(&self) -> Result<(), String> {
        let p = &self.push;
        if !(10..=300).contains(&p.timeout_secs) {
            return Err(format!(
                "push.timeout_secs must be 10..=300 seconds (keep it under sshd's LoginGraceTime), not {}",
                p.timeout_secs
            ));
        }
        if p.timeout_secs > self.server.idle_timeout_secs {
            return Err(format!(
                "push.timeout_secs ({}) must not exceed server.idle_timeout_secs ({}): a login waiting for its push keeps its connection idle",
                p.timeout_secs, self.server.idle_timeout_secs
            ));
        }
        if p.max_per_window == 0 || p.window_secs < 60 || p.window_secs > 7 * 24 * 3600 {
            return Err(
                "push.max_per_window must be at least 1 and push.window_secs 60 s..=one week"
                    .into(),
            );
        }
        if !(1..=60).contains(&p.reread_secs) {
            return Err(format!(
                "push.reread_secs must be 1..=60, not {}",
                p.reread_secs
            ));
        }
        if !(2..=6).contains(&p.number_digits) {
            return Err(format!(
                "push.number_digits must be 2..=6, not {}",
                p.number_digits
            ));
        }
        if p.deny_block_secs > 7 * 24 * 3600 || p.report_block_secs > 30 * 24 * 3600 {
            return Err("push.deny_block_secs must be at most a week and push.report_block_secs at most 30 days".into());
        }
        Ok(())
    }

    /// Groups whose members only root may manage: `protected_groups` and
    /// the admin group itself.
    pub fn protected(&self) -> Vec<String> {
        let mut groups = self.protected_groups.clone();
        if !self.admin_group.is_empty() && !groups.contains(&self.admin_group) {
            groups.push(self.admin_group.clone());
        }
        groups
    }

    /// The key file actually used.
    pub fn key_path(&self) -> PathBuf {
        if self.key_file.as_os_str().is_empty() {
            self.state_dir.join("master.key")
        } else {
            self.key_file.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_documents_exactly_the_defaults() -> Result<(), ConfigError> {
        assert_eq!(Config::parse(DEFAULT_TOML, "mfad.toml")?, Config::default());
        Ok(())
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[limits]\nlockout_failure = 5\n", "x.toml");
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("lockout_failure"), "{msg}");
    }

    #[test]
    fn the_old_name_of_host_free_accounts_still_reads_and_one_account_is_refused(
    ) -> Result<(), ConfigError> {
        let c = Config::parse("[limits]\nhost_free_failures = 7\n", "x.toml")?;
        assert_eq!(c.limits.host_free_accounts, 7);
        let err = Config::parse("[limits]\nhost_free_accounts = 1\n", "x.toml");
        assert!(matches!(err, Err(ConfigError::Invalid { .. })));
        Ok(())
    }

    #[test]
    fn lockout_above_nist_limit_is_refused() {
        let err = Config::parse("[limits]\nlockout_failures = 1000\n", "x.toml");
        assert!(matches!(err, Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn partial_file_keeps_other_defaults() -> Result<(), ConfigError> {
        let c = Config::parse("issuer = \"Lab\"\n[totp]\ndigits = 8\n", "x.toml")?;
        assert_eq!(c.issuer, "Lab");
        assert_eq!(c.totp.digits, 8);
        assert_eq!(c.totp.period, 30);
        assert_eq!(c.limits, LimitsConfig::default());
        Ok(())
    }
}
