//! One-time codes sent to a phone, by text message or by a voice call.
//! mfad makes and checks the codes; the gateway, the only process on the
//! network, delivers them through the site's SMS and voice providers and
//! reports how it went (`gateway_report` with the delivery's id).

use crate::Sensitive;
use serde::{Deserialize, Serialize};

/// How a code reaches the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Voice,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

/// Why the code is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhonePurpose {
    /// A login's second factor.
    Login,
    /// Proving a number before it is added (`mfa phone add`).
    AddNumber,
}

/// One code for the gateway to deliver (answer to `gateway_poll`). The
/// code goes into the message and nowhere else (never a log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneDelivery {
    pub id: String,
    pub channel: Channel,
    /// The number in E.164 (`+` and up to 15 digits).
    pub to: String,
    pub code: Sensitive,
    pub purpose: PhonePurpose,
    /// The machine the login is on, for the message.
    pub host: String,
    pub expires_in_secs: u64,
}

/// A saved phone number, as `mfa phone list` shows it: the number is
/// masked but for its last digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneInfo {
    pub label: String,
    pub channel: Channel,
    /// `+44 ••• ••• •• 58`-like: the country code's first digits and the
    /// last two.
    pub masked: String,
    pub created_at: i64,
}

/// Answer to `phone_start` and `phone_add`: a code is on its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneSent {
    pub id: String,
    pub channel: Channel,
    /// The last two digits of the number, for "sent to the number ending 58".
    pub ending: String,
    pub expires_in_secs: u64,
}

/// The last `n` digits of an E.164 number.
pub fn ending(number: &str, n: usize) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(n)..].iter().collect()
}

/// A number for display: the `+`, the first two digits and the last two.
pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return "+…".into();
    }
    let head: String = digits[..2].iter().collect();
    let hidden = "•".repeat(digits.len() - 4);
    format!("+{head}{hidden}{}", ending(number, 2))
}

/// The text of a delivery, as the provider sends it: a text message, or
/// what a voice call reads out (the code slowly, digit by digit, twice).
pub fn message(d: &PhoneDelivery, issuer: &str) -> String {
    let minutes = d.expires_in_secs.div_ceil(60).max(1);
    let what = match d.purpose {
        PhonePurpose::Login => format!("to log in to {}", d.host),
        PhonePurpose::AddNumber => "to add this phone number".to_string(),
    };
    match d.channel {
        Channel::Sms => format!(
            "{issuer}: your code {what} is {}. It expires in {minutes} min. Never share it.",
            d.code.expose()
        ),
        Channel::Voice => {
            let slow = d
                .code
                .expose()
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(", ");
            format!("This is {issuer}. Your code {what} is: {slow}. Again: {slow}. Goodbye.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(channel: Channel) -> PhoneDelivery {
        PhoneDelivery {
            id: "ph-1".into(),
            channel,
            to: "+15551234567".into(),
            code: Sensitive::new("482913"),
            purpose: PhonePurpose::Login,
            host: "lab-042".into(),
            expires_in_secs: 300,
        }
    }

    #[test]
    fn a_text_holds_the_code_once_and_a_call_reads_it_slowly_twice() {
        let sms = message(&delivery(Channel::Sms), "pam_mfa");
        assert!(sms.contains("482913") && sms.contains("lab-042") && sms.contains("5 min"));
        let call = message(&delivery(Channel::Voice), "pam_mfa");
        assert_eq!(call.matches("4, 8, 2, 9, 1, 3").count(), 2, "{call}");
        assert!(!call.contains("482913"), "{call}");
    }
}
