//! `[dbus]` in mfad.toml: the system-bus interface for desktop tools,
//! the help desk and `mfa agent`. Off by default: the PAM module never
//! needs it, and a bus is one more way in to think about.

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbusConfig {
    /// Serve `org.pam_mfa.Mfad1` on the system bus.
    pub enable: bool,
    /// The bus to serve on, as a D-Bus address; empty: the one in
    /// `DBUS_SYSTEM_BUS_ADDRESS`, else the system bus.
    pub address: String,
}

impl DbusConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.enable && !self.address.is_empty() {
            return Err("dbus.address is set but dbus.enable is false".into());
        }
        if self.address.chars().any(char::is_control) {
            return Err("dbus.address contains control characters".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_relay_refuses_dbus_and_an_address_needs_enable() {
        let relay = "[upstream]\nservers = [\"central:7443\"]\nca = \"/ca.pem\"\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n";
        assert!(Config::parse(relay, "t").is_ok());
        let both = format!("{relay}[dbus]\nenable = true\n");
        let err = Config::parse(&both, "t").err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("cannot serve D-Bus")),
            "{err:?}"
        );
        let stray = Config::parse("[dbus]\naddress = \"unix:path=/x\"\n", "t");
        assert!(stray.is_err());
        let on = Config::parse("[dbus]\nenable = true\n", "t").ok();
        assert_eq!(on.map(|c| c.dbus.enable), Some(true));
    }
}
