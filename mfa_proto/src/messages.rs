//! Requests and responses. JSON is internally tagged (`"type": "verify"`) and
//! snake_case, so a frame is readable in a packet capture or a bug report.
//! Codes and secrets travel as [`Sensitive`], whose `Debug` is redacted and
//! whose memory is wiped on drop, so logging a request cannot leak them.

use crate::at_login::EnrollOffer;
pub use crate::enroll::{Algorithm, EnrollParams};
use crate::import::{Import, Imported};
pub use crate::methods::StatusInfo;
use crate::methods::{AccountInfo, MethodChange, MethodInfo, MethodKind};
use crate::phone::{Channel, PhoneDelivery, PhoneInfo, PhoneSent};
use crate::push::{
    Decided, Decision, Delivery, GatewayInfo, PendingPush, Provider, PushEnd, PushEnrollment,
    PushMode, PushOffer, PushTargetInfo, PushView,
};
pub use crate::sensitive::{LoginContext, Sensitive};
use crate::ErrorCode;
use serde::{Deserialize, Serialize};

/// Version 1 is the first; bump it for any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Must be the first request on every connection.
    Hello {
        version: u32,
        client: String,
    },
    /// Asked before prompting: may this user be asked for a code right now?
    Challenge {
        user: String,
        context: LoginContext,
        /// Whether to send a push now (`auto`) or offer one (`ask`).
        #[serde(default, skip_serializing_if = "PushMode::is_off")]
        push: PushMode,
    },
    /// Check a TOTP code or a recovery code.
    Verify {
        user: String,
        code: Sensitive,
        context: LoginContext,
    },
    /// Start an enrollment: the daemon creates (or imports) a secret and keeps
    /// it pending until a correct code confirms it.
    EnrollBegin {
        user: String,
        params: EnrollParams,
    },
    /// Confirm the pending enrollment with a code from the new authenticator.
    /// A non-root user replacing an existing enrollment also proves the old
    /// one with `current_code`.
    EnrollConfirm {
        user: String,
        code: Sensitive,
        #[serde(default)]
        current_code: Option<Sensitive>,
        /// Add the new authenticator under this name beside the others
        /// (which needs `current_code` from one of them), instead of
        /// replacing them all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    Status {
        user: String,
    },
    /// One page of enrolled account names, sorted, after `after` (root or
    /// admin group only).
    List {
        #[serde(default)]
        after: String,
        /// Each account's methods and last login too (`accounts`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        details: bool,
    },
    /// What `user` can log in with (own account, or root and the admin
    /// group on others).
    Methods {
        user: String,
    },
    /// Remove, rename or prefer one method of `user` by its name (and
    /// kind, when two kinds share the name).
    MethodChange {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<MethodKind>,
        label: String,
        change: MethodChange,
    },
    /// The help desk (root or the admin group, never on its own account):
    /// one temporary code for `user`, valid once for `minutes`.
    Bypass {
        user: String,
        #[serde(default)]
        minutes: Option<u32>,
    },
    Remove {
        user: String,
    },
    Unlock {
        user: String,
    },
    /// A new set of recovery codes for an enrolled account; the old set
    /// stops working, the authenticator is untouched. Anyone but root
    /// asking for their own account proves the current factor.
    RecoveryCodes {
        user: String,
        #[serde(default)]
        current_code: Option<Sensitive>,
    },
    /// Root, during a login that mfad answered with `enroll_at_login`:
    /// start the enrollment of an account that has none.
    LoginEnrollBegin {
        user: String,
        context: LoginContext,
    },
    /// Finish it with a code from the new app; applies only while the
    /// account still has no enrollment.
    LoginEnrollConfirm {
        user: String,
        code: Sensitive,
        context: LoginContext,
    },
    /// The user typed `skip`: allowed only while the policy allows it
    /// (answered `exempt`), and audited either way.
    LoginEnrollSkip {
        user: String,
        context: LoginContext,
    },
    /// Import a secret and recovery codes issued elsewhere (root only).
    Import(Import),
    /// Send a one-time code to the account's phone for a login now (the
    /// user typed `sms` or `call`).
    PhoneStart {
        user: String,
        context: LoginContext,
        channel: Channel,
    },
    /// Check a code typed after `phone_start` (a TOTP or recovery code is
    /// accepted too), through the same limits as `verify`.
    PhoneVerify {
        user: String,
        id: String,
        code: Sensitive,
        context: LoginContext,
    },
    /// Start adding a phone number: a code is sent to it, which
    /// `phone_confirm` types back. Anyone but root adding to their own
    /// enrolled account proves the current factor.
    PhoneAdd {
        user: String,
        /// As typed; mfad validates it and stores it in E.164.
        number: String,
        channel: Channel,
        #[serde(default)]
        label: Option<String>,
        #[serde(default)]
        current_code: Option<Sensitive>,
    },
    /// Finish the latest `phone_add` of `user` with the code it sent.
    PhoneConfirm {
        user: String,
        code: Sensitive,
    },
    PhoneList {
        user: String,
    },
    PhoneRemove {
        user: String,
        label: String,
    },
    /// Send a push for a login now (the user typed `push`).
    PushStart {
        user: String,
        context: LoginContext,
    },
    /// Wait until the push `id`, sent for this connection, is decided or
    /// ends. Only the connection that started a push may wait for it; when
    /// that connection closes, its pending pushes are cancelled.
    PushWait {
        id: String,
    },
    /// Start adding a push target: mfad sends a test notification, which
    /// the user approves with the number in the answer (`push_wait`).
    PushAdd {
        user: String,
        #[serde(default)]
        provider: Option<Provider>,
        #[serde(default)]
        label: Option<String>,
        /// A non-root user who is enrolled proves the current
        /// authenticator, as for replacing it.
        #[serde(default)]
        current_code: Option<Sensitive>,
    },
    PushList {
        user: String,
    },
    PushRemove {
        user: String,
        label: String,
    },
    /// The login pushes waiting for `user`'s answer (D-Bus, `mfa agent`).
    PushPending {
        user: String,
    },
    /// `user` answers their own pending push `id`, as on the approval
    /// page: an approval needs the number the login shows.
    PushAnswer {
        user: String,
        id: String,
        #[serde(default)]
        number: Sensitive,
        decision: Decision,
    },
    /// The gateway (uid of `push.gateway_user` only): the next push to
    /// deliver, waiting up to `wait_secs` for one.
    GatewayPoll {
        info: GatewayInfo,
        #[serde(default)]
        wait_secs: u64,
    },
    /// The gateway: how the delivery of push `id` went.
    GatewayReport {
        id: String,
        delivered: bool,
        #[serde(default)]
        error: Option<String>,
    },
    /// The gateway: what the approval page shows for a link's token.
    GatewayView {
        token: Sensitive,
    },
    /// The gateway: a decision typed on the page for a link's token.
    GatewayDecide {
        token: Sensitive,
        #[serde(default)]
        number: Sensitive,
        decision: Decision,
    },
}

/// How a successful verification was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Totp,
    Recovery,
    /// A push approved on the phone with the number the login showed.
    Push,
    /// The help desk's temporary code (`mfa bypass`), valid once.
    Bypass,
    /// A one-time code sent by text or voice call.
    Phone,
}

/// What a `challenge` found: whether to ask this account for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Challenge {
    /// Ask for a code.
    Ready,
    /// No confirmed enrollment for this account.
    NotEnrolled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Hello {
        version: u32,
        server: String,
    },
    /// Answer to `challenge`.
    Challenge {
        state: Challenge,
        /// Present when the account has a push target.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        push: Option<PushOffer>,
        /// The phone channels the account can get a code by now (a
        /// number of that kind, and the gateway delivers it).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        phone: Vec<Channel>,
    },
    /// `recovery_codes_left`: how many recovery codes the account has
    /// left (after this one, if a recovery code was used); None when
    /// mfad did not count them.
    Verified {
        method: Method,
        recovery_codes_left: Option<u32>,
    },
    /// Wrong code. `retry_after_secs` is set when this failure started a delay.
    WrongCode {
        retry_after_secs: Option<u64>,
    },
    /// The code was right but its time step was already used.
    Replayed,
    /// Too many recent failures: wait this long.
    RateLimited {
        retry_after_secs: u64,
    },
    /// Hard lock after too many failures; an admin must run `mfa unlock`.
    Locked,
    /// Answer to `challenge` (or `login_enroll_skip`): site policy exempts
    /// this login from the second factor. The module answers PAM_IGNORE,
    /// never success; mfad has audited `reason`.
    Exempt {
        reason: String,
    },
    /// Answer to `challenge`: no enrollment, and site policy asks for one
    /// now ("more information required").
    EnrollAtLogin(EnrollOffer),
    NotEnrolled,
    /// Answer to `enroll_begin`: show these to the user.
    Enrollment {
        secret: Sensitive,
        /// Holds the secret too.
        uri: Sensitive,
        algorithm: Algorithm,
        digits: u8,
        period: u64,
        expires_in_secs: u64,
        /// The URI drawn as a QR code for an 80x24 terminal (Unicode
        /// half blocks), for the enrollment during a login.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qr: Option<Sensitive>,
    },
    /// Answer to `enroll_confirm`: shown once, stored only as hashes.
    Enrolled {
        recovery_codes: Vec<Sensitive>,
    },
    Status(StatusInfo),
    /// Answer to `list`; `more` says another page follows the last name.
    Accounts {
        users: Vec<String>,
        more: bool,
    },
    /// Answer to `list` with `details`.
    AccountDetails {
        accounts: Vec<AccountInfo>,
        more: bool,
    },
    /// Answer to `methods`.
    Methods {
        user: String,
        methods: Vec<MethodInfo>,
    },
    /// Answer to `bypass`: shown once to the help desk, stored only as a
    /// keyed hash.
    Bypass {
        code: Sensitive,
        expires_in_secs: u64,
    },
    Done,
    /// Answer to `recovery_codes`: shown once, stored only as hashes.
    RecoveryCodes {
        recovery_codes: Vec<Sensitive>,
    },
    /// Answer to `import`.
    Imported(Imported),
    /// Answer to `push_start`.
    Push(PushOffer),
    /// Answer to `phone_start` and `phone_add`.
    PhoneSent(PhoneSent),
    /// Answer to `phone_list` and `phone_confirm`.
    Phones {
        user: String,
        phones: Vec<PhoneInfo>,
        /// For a phone confirmed as an account's first method: its
        /// recovery codes, shown once.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recovery_codes: Vec<Sensitive>,
    },
    /// A push ended without an approval; `message` says why, for the user.
    PushEnded {
        end: PushEnd,
        message: String,
    },
    /// Answer to `push_add`.
    PushEnroll(Box<PushEnrollment>),
    /// Answer to `push_pending`, oldest first.
    PushPending {
        user: String,
        pushes: Vec<PendingPush>,
    },
    PushTargets {
        user: String,
        targets: Vec<PushTargetInfo>,
    },
    /// Answer to `gateway_poll`.
    Delivery(Box<Delivery>),
    /// Answer to `gateway_poll`: a code to send to a phone.
    PhoneDelivery(Box<PhoneDelivery>),
    /// Answer to `gateway_poll` when nothing came in time.
    Idle,
    /// Answer to `gateway_view`.
    PushPage(Box<PushView>),
    /// Answer to `gateway_decide`.
    PushDecided {
        outcome: Decided,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

impl Response {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Response::Error {
            code,
            message: message.into(),
        }
    }
}
