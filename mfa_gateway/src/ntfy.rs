//! The ntfy publish: one JSON POST to the server's root URL (ntfy v2's JSON
//! publishing), so the topic, itself a secret, travels in the body and
//! never in a URL that proxies log. The message says who logs in where,
//! never the number: the user types that one from the login prompt.

use mfa_proto::push::{Delivery, PushKind};
use serde::Serialize;

/// ntfy refuses messages over 4,096 bytes; names from mfad are shorter,
/// but each is capped so the whole can never reach that.
const MAX_FIELD_CHARS: usize = 200;

#[derive(Debug, Serialize)]
pub struct Publish<'a> {
    pub topic: &'a str,
    pub title: String,
    pub message: String,
    pub priority: u8,
    pub click: &'a str,
    pub tags: [&'static str; 1],
    pub actions: [ViewAction<'a>; 1],
}

#[derive(Debug, Serialize)]
pub struct ViewAction<'a> {
    pub action: &'static str,
    pub label: &'static str,
    pub url: &'a str,
    pub clear: bool,
}

/// The JSON body for `d`, with `topic` and the approval `link`.
pub fn publish<'a>(d: &Delivery, topic: &'a str, link: &'a str, priority: u8) -> Publish<'a> {
    Publish {
        topic,
        title: title(d),
        message: message(d),
        priority,
        click: link,
        tags: ["closed_lock_with_key"],
        actions: [ViewAction {
            action: "view",
            label: "Open approval page",
            url: link,
            clear: true,
        }],
    }
}

pub fn title(d: &Delivery) -> String {
    match d.kind {
        PushKind::Login => format!("Login to {}", cap(&d.host)),
        PushKind::Test => "pam_mfa test notification".into(),
    }
}

pub fn message(d: &Delivery) -> String {
    let from = d
        .rhost
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(cap)
        .unwrap_or("an unknown address");
    match d.kind {
        PushKind::Login => format!(
            "{user} is logging in to {host} (service {service}) from {from}. \
             If that is you, open this and type the number shown at the login prompt.",
            user = cap(&d.user),
            host = cap(&d.host),
            service = cap(&d.service),
        ),
        PushKind::Test => format!(
            "Test notification for your new push target {label} (user {user} on {host}, \
             service {service}, from {from}). Open it and type the number that \
             `mfa push add` shows.",
            label = cap(&d.label),
            user = cap(&d.user),
            host = cap(&d.host),
            service = cap(&d.service),
        ),
    }
}

/// `s` cut to [`MAX_FIELD_CHARS`] characters.
fn cap(s: &str) -> &str {
    match s.char_indices().nth(MAX_FIELD_CHARS) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::delivery;

    #[test]
    fn the_publish_is_ntfy_json_with_the_link_in_click_and_a_view_action() {
        let d = delivery(PushKind::Login, mfa_proto::push::Provider::Ntfy);
        let link = "https://mfa.example.org/p/TOKEN";
        let json = serde_json::to_value(publish(&d, "topic-x", link, 4)).unwrap();
        assert_eq!(json["topic"], "topic-x");
        assert_eq!(json["title"], "Login to lab1");
        assert_eq!(json["priority"], 4);
        assert_eq!(json["click"], link);
        assert_eq!(
            json["actions"],
            serde_json::json!([{
                "action": "view", "label": "Open approval page", "url": link, "clear": true
            }])
        );
        let msg = json["message"].as_str().unwrap();
        for part in ["ann", "lab1", "sshd", "192.0.2.7"] {
            assert!(msg.contains(part), "{msg}");
        }
        assert!(!msg.contains("TOKEN"), "{msg}");
    }

    #[test]
    fn a_test_push_says_so_and_names_the_target() {
        let mut d = delivery(PushKind::Test, mfa_proto::push::Provider::Ntfy);
        d.rhost = None;
        assert_eq!(title(&d), "pam_mfa test notification");
        let msg = message(&d);
        assert!(
            msg.starts_with("Test notification for your new push target phone"),
            "{msg}"
        );
        assert!(msg.contains("an unknown address"), "{msg}");
    }

    #[test]
    fn long_fields_are_capped_well_under_ntfys_limit() {
        let mut d = delivery(PushKind::Login, mfa_proto::push::Provider::Ntfy);
        d.user = "é".repeat(5000);
        d.host = "h".repeat(5000);
        d.service = "s".repeat(5000);
        d.rhost = Some("r".repeat(5000));
        assert!(message(&d).len() < 4096 - 1000);
        assert!(title(&d).len() < 300);
    }
}
