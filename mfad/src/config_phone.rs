//! `[phone]` in mfad.toml: one-time codes by text message or voice call,
//! and the limits that keep a local user from making mfad text a
//! stranger's phone in a loop or run up the site's bill.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneConfig {
    pub code_digits: u8,
    pub code_secs: u64,
    /// Codes sent to one account, and to one number whoever asks, per
    /// `window_secs`.
    pub max_per_user: u32,
    pub max_per_number: u32,
    pub window_secs: u64,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            code_digits: 6,
            code_secs: 300,
            max_per_user: 5,
            max_per_number: 5,
            window_secs: 3600,
        }
    }
}

impl PhoneConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(6..=8).contains(&self.code_digits) {
            return Err(format!(
                "phone.code_digits must be 6, 7 or 8, not {}",
                self.code_digits
            ));
        }
        if !(60..=900).contains(&self.code_secs) {
            return Err(format!(
                "phone.code_secs must be 60..=900 seconds, not {}",
                self.code_secs
            ));
        }
        if self.max_per_user == 0 || self.max_per_number == 0 || self.max_per_user > 50 {
            return Err(
                "phone.max_per_user must be 1..=50 and phone.max_per_number at least 1".into(),
            );
        }
        if !(60..=7 * 24 * 3600).contains(&self.window_secs) {
            return Err("phone.window_secs must be 60 s..=one week".into());
        }
        Ok(())
    }
}
