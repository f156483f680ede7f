//! The parts of the protocol that carry push approval: what a login is
//! offered, how a push ends, and what mfad hands the gateway (`mfa-gateway`,
//! the only process that talks to the network). The gateway gets a one-time
//! token per push for the link it sends; mfad keeps only the token's hash
//! and checks the number itself, so the gateway can answer nothing but
//! pushes that are pending, each once.

use crate::Sensitive;
use serde::{Deserialize, Serialize};

/// Whether a login sends a push (module option `push=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// Send at once when the account has a push target.
    Auto,
    /// Send only when the user types `push` at the prompt.
    Ask,
    /// Never send (also what a module without push support means).
    #[default]
    Off,
}

impl PushMode {
    pub fn is_off(&self) -> bool {
        *self == PushMode::Off
    }
}

/// What a challenge (or a `push_start`) says about push, for an account
/// that has a push target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PushOffer {
    /// A push is on its way: the login shows `number`, which the user
    /// types on the phone. Wait for it with `push_wait`.
    Sent {
        id: String,
        number: String,
        expires_in_secs: u64,
    },
    /// The account has a target; typing `push` at the prompt sends one.
    Available,
    /// The account has a target, but no push can be sent now (blocked
    /// after a denial, too many pushes, gateway not running): `reason`
    /// says so in words for the prompt.
    Unavailable { reason: String },
}

/// How a delivery reaches the phone (configured in the gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Ntfy,
    Webhook,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ntfy => "ntfy",
            Provider::Webhook => "webhook",
        }
    }
}

/// What a push asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// Approve a login.
    Login,
    /// Approve a new push target (`mfa push add`): the test notification.
    Test,
}

/// Why a push ended without an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushEnd {
    /// Denied on the phone.
    Denied,
    /// Approved with a number other than the one the login showed.
    WrongNumber,
    /// "This wasn't me": denied, and pushes to the account are blocked.
    Reported,
    /// Nobody answered in time.
    Expired,
    /// The login went away or the push was withdrawn.
    Cancelled,
    /// The gateway could not deliver it.
    DeliveryFailed,
    /// An end this version does not know (sent by a newer mfad).
    #[serde(other)]
    Unknown,
}

/// A decision typed on the approval page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
    Report,
}

/// What mfad made of a decision the gateway forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decided {
    Approved,
    Denied,
    WrongNumber,
    Reported,
}

/// One push for the gateway to deliver. `token` goes into the link and
/// nowhere else (never a log); `topic` is the ntfy topic, itself a secret,
/// since anyone who knows it can subscribe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub token: Sensitive,
    pub kind: PushKind,
    pub provider: Provider,
    #[serde(default)]
    pub topic: Option<Sensitive>,
    /// The push target's name (`mfa push add --name`).
    pub label: String,
    pub user: String,
    pub host: String,
    pub service: String,
    #[serde(default)]
    pub rhost: Option<String>,
    /// Unix times.
    pub created_at: i64,
    pub expires_at: i64,
}

/// What the approval page shows about a pending push. Never the number:
/// that is shown only at the login prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushView {
    pub kind: PushKind,
    pub label: String,
    pub user: String,
    pub host: String,
    pub service: String,
    #[serde(default)]
    pub rhost: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// How many digits the number has, for the page's input field.
    pub number_digits: u8,
}

/// A login push waiting for its account's answer, as its owner sees it:
/// what the approval page shows, and the id to answer it by. Never the
/// number or the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPush {
    pub id: String,
    #[serde(flatten)]
    pub view: PushView,
}

/// A saved push target, as `mfa push list` shows it (never its topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTargetInfo {
    pub label: String,
    pub provider: Provider,
    pub created_at: i64,
}

/// What the gateway can deliver through, sent with every poll, so mfad
/// knows it runs and `mfa push add` can say how to subscribe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub providers: Vec<Provider>,
    /// The ntfy server phones subscribe to, as shown to users.
    #[serde(default)]
    pub ntfy_url: Option<String>,
    /// The phone channels it has a provider for (`[sms]`, `[voice]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone: Vec<crate::phone::Channel>,
}

/// Answer to `push_add`: the target is saved once the test push `id` is
/// approved with `number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEnrollment {
    pub id: String,
    pub label: String,
    pub provider: Provider,
    /// The ntfy topic to subscribe to, and the server it is on.
    #[serde(default)]
    pub topic: Option<Sensitive>,
    #[serde(default)]
    pub ntfy_url: Option<String>,
    pub number: String,
    pub expires_in_secs: u64,
}
