//! Fixtures shared by the unit tests.

use mfa_proto::push::{Delivery, Provider, PushKind};
use mfa_proto::Sensitive;

pub fn delivery(kind: PushKind, provider: Provider) -> Delivery {
    Delivery {
        id: "push-1".into(),
        token: Sensitive::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"),
        kind,
        provider,
        topic: Some(Sensitive::new("topic-secret")),
        label: "phone".into(),
        user: "ann".into(),
        host: "lab1".into(),
        service: "sshd".into(),
        rhost: Some("192.0.2.7".into()),
        created_at: 1_800_000_000,
        expires_at: 1_800_000_120,
    }
}
