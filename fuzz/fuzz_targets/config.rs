//! mfad's TOML configuration parser and validator on arbitrary UTF-8.
//! Anything it accepts must satisfy the documented bounds; anything it
//! refuses must produce a printable error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfad::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "fuzz.toml") {
        Ok(cfg) => {
            assert!((6..=8).contains(&cfg.totp.digits));
            assert!((15..=120).contains(&cfg.totp.period));
            assert!(cfg.totp.skew <= 2);
            assert!((1..=100).contains(&cfg.limits.lockout_failures));
            assert!(cfg.limits.delay_secs >= 1);
            assert!(cfg.limits.delay_secs <= cfg.limits.max_delay_secs);
            assert!(cfg.server.max_connections >= 1);
            assert!(cfg.server.max_connections_per_uid >= 1);
            assert!(!cfg.issuer.is_empty() && !cfg.issuer.contains(':'));
            let _ = cfg.key_path();
            // Parsing is a pure function of the text.
            match Config::parse(text, "fuzz.toml") {
                Ok(again) => assert_eq!(again, cfg),
                Err(e) => panic!("second parse of accepted text failed: {e}"),
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
