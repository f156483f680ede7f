//! What a lab machine's relay says first on its TLS connection to a
//! central mfad, before the caller's own `hello`: whose connection it
//! carries, as the relay read it from the kernel (SO_PEERCRED). The host
//! is not in it: the central side takes that from the client certificate,
//! so a relay can speak only for the machine it is.

use serde::{Deserialize, Serialize};

/// Version 1 is the first; bump it for any incompatible change.
pub const RELAY_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "relay")]
pub struct OnBehalf {
    pub version: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub pid: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preamble_is_readable_json() -> Result<(), serde_json::Error> {
        let p = OnBehalf {
            version: RELAY_VERSION,
            uid: 1000,
            gid: 1000,
            pid: Some(42),
        };
        let json = serde_json::to_string(&p)?;
        assert_eq!(
            json,
            r#"{"type":"relay","version":1,"uid":1000,"gid":1000,"pid":42}"#
        );
        assert_eq!(serde_json::from_str::<OnBehalf>(&json)?, p);
        assert!(serde_json::from_str::<OnBehalf>(r#"{"type":"hello","version":1}"#).is_err());
        Ok(())
    }
}
