//! The webhook: a JSON POST signed per Standard Webhooks 1.0, so receivers
//! can verify it with that specification's libraries. The id is the push
//! id (the same on every retry, for deduplication); the timestamp and the
//! signature are made anew for each attempt.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use mfa_proto::push::{Delivery, PushKind};
use serde::Serialize;
use sha2::Sha256;

#[derive(Debug, Serialize)]
pub struct Body<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    pub label: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub service: &'a str,
    pub rhost: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
    pub approve_url: &'a str,
}

/// The body for `d`, serialized once so every attempt sends (and signs)
/// the same bytes.
pub fn body(d: &Delivery, link: &str) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Body {
        kind: match d.kind {
            PushKind::Login => "push.login",
            PushKind::Test => "push.test",
        },
        id: &d.id,
        label: &d.label,
        user: &d.user,
        host: &d.host,
        service: &d.service,
        rhost: d.rhost.as_deref(),
        created_at: d.created_at,
        expires_at: d.expires_at,
        approve_url: link,
    })
}

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the decoded secret.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        }
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => String::new(),
    }
}

/// The headers of one attempt, in the order Standard Webhooks lists them.
pub fn headers(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 4] {
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", sign(key, id, timestamp, body)),
        ("content-type", "application/json".into()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secrets::WebhookKey;
    use crate::testing::delivery;

    #[test]
    fn signature_matches_the_standard_webhooks_reference_vector() {
        let key = WebhookKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                key.expose(),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn the_body_names_the_login_and_carries_the_link() {
        let d = delivery(PushKind::Login, mfa_proto::push::Provider::Webhook);
        let link = "https://mfa.example.org/p/TOKEN";
        let json: serde_json::Value = serde_json::from_slice(&body(&d, link).unwrap()).unwrap();
        assert_eq!(json["type"], "push.login");
        assert_eq!(json["id"], "push-1");
        assert_eq!(json["approve_url"], link);
        assert_eq!(json["user"], "ann");
        assert_eq!(json["host"], "lab1");
        assert_eq!(json["service"], "sshd");
        assert_eq!(json["rhost"], "192.0.2.7");
        assert_eq!(json["label"], "phone");
        assert_eq!(json["created_at"], 1_800_000_000);
        assert_eq!(json["expires_at"], 1_800_000_120);
        assert!(json.get("topic").is_none() && json.get("token").is_none());
        let d = delivery(PushKind::Test, mfa_proto::push::Provider::Webhook);
        let json: serde_json::Value = serde_json::from_slice(&body(&d, link).unwrap()).unwrap();
        assert_eq!(json["type"], "push.test");
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature() {
        let h = headers(b"0123456789abcdef01234567", "push-1", 42, b"{}");
        assert_eq!(h[0], ("webhook-id", "push-1".to_string()));
        assert_eq!(h[1], ("webhook-timestamp", "42".to_string()));
        assert_eq!(
            h[2].1,
            sign(b"0123456789abcdef01234567", "push-1", 42, b"{}")
        );
        assert!(h[2].1.starts_with("v1,"));
        assert_eq!(h[3], ("content-type", "application/json".to_string()));
    }
}
