//! `[store]` in mfad.toml: where the state lives. SQLite in the state
//! directory (the default: one machine works with no database at all), or
//! PostgreSQL for a central mfad that every lab machine's relay shares.
//! The connection string may hold a password, so it can live in a file
//! of its own (`postgres_url_file`) and is never printed.

use serde::Deserialize;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sqlite,
    Postgres,
}

/// A libpq connection string or URI; its Debug form hides it.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct ConnString(String);

impl std::fmt::Debug for ConnString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.is_empty() {
            true => f.write_str("\"\""),
            false => f.write_str("\"(hidden)\""),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub backend: Backend,
    pub postgres_url: ConnString,
    pub postgres_url_file: PathBuf,
    /// PEM CA of the database server's certificate: verified TLS (host
    /// name checked) on every TCP connection.
    pub postgres_ca: PathBuf,
}

impl StoreConfig {
    pub fn validate(&self) -> Result<(), String> {
        let (url, file) = (
            !self.postgres_url.0.is_empty(),
            !self.postgres_url_file.as_os_str().is_empty(),
        );
        if self.backend == Backend::Sqlite && !self.postgres_ca.as_os_str().is_empty() {
            return Err("store.postgres_ca is read only with store.backend = \"postgres\"".into());
        }
        match self.backend {
            Backend::Sqlite if url || file => Err(
                "store.postgres_url and store.postgres_url_file are read only with store.backend = \"postgres\"".into(),
            ),
            Backend::Postgres if url && file => {
                Err("give store.postgres_url or store.postgres_url_file, not both".into())
            }
            Backend::Postgres if !url && !file => Err(
                "store.backend = \"postgres\" needs store.postgres_url or store.postgres_url_file"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// The connection string, read from `postgres_url_file` when given;
    /// that file must be readable by its owner only, since it may hold a
    /// password.
    pub fn postgres_url(&self) -> Result<Zeroizing<String>, String> {
        if self.postgres_url_file.as_os_str().is_empty() {
            return Ok(Zeroizing::new(self.postgres_url.0.clone()));
        }
        let path = &self.postgres_url_file;
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{shown} may hold the database password, so it must be readable by its owner only (chmod 600)"
            ));
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?,
        );
        let url = text.trim();
        if url.is_empty() {
            return Err(format!(
                "{shown} is empty: it must hold the connection string"
            ));
        }
        Ok(Zeroizing::new(url.to_string()))
    }

    /// `postgres_ca`, if set.
    pub fn postgres_ca(&self) -> Option<&std::path::Path> {
        (!self.postgres_ca.as_os_str().is_empty()).then_some(self.postgres_ca.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StoreConfig, String> {
        let c: StoreConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn postgres_needs_exactly_one_url_and_sqlite_none() {
        assert!(parse("").is_ok());
        assert!(parse("backend = \"postgres\"").is_err());
        assert!(parse("postgres_url = \"host=/run/pg\"").is_err());
        assert!(
            parse("backend = \"postgres\"\npostgres_url = \"x\"\npostgres_url_file = \"/y\"")
                .is_err()
        );
        let c = parse("backend = \"postgres\"\npostgres_url = \"postgres://mfad:pw@db/mfa\"");
        let c = c.unwrap_or_default();
        assert_eq!(c.backend, Backend::Postgres);
        // The password never shows in a Debug print of the config.
        assert!(!format!("{c:?}").contains("pw@"), "{c:?}");
        assert!(parse("backend = \"mysql\"").is_err());
        assert!(parse("postgres_ca = \"/etc/mfad/db-ca.pem\"").is_err());
        let c = parse("backend = \"postgres\"\npostgres_url = \"x\"\npostgres_ca = \"/ca.pem\"");
        assert_eq!(
            c.unwrap_or_default().postgres_ca(),
            Some(std::path::Path::new("/ca.pem"))
        );
    }

    #[test]
    fn a_url_file_must_be_private_and_not_empty() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://mfad:pw@db/mfa\n")?;
        let c = StoreConfig {
            backend: Backend::Postgres,
            postgres_url_file: file.clone(),
            ..Default::default()
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
        assert!(c.postgres_url().is_err_and(|e| e.contains("chmod 600")));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        assert_eq!(c.postgres_url()?.as_str(), "postgres://mfad:pw@db/mfa");
        std::fs::write(&file, "\n")?;
        assert!(c.postgres_url().is_err_and(|e| e.contains("empty")));
        Ok(())
    }
}
