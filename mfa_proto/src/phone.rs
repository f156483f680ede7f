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
