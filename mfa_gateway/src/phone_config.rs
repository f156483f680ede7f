//! The `[sms]` and `[voice]` tables: how codes reach phones, through an
//! HTTP API (`kind = "http"`) or a local command (`kind = "command"`).
//! Both tables have one shape. [`PhoneConfig::resolve`] checks a table as
//! a whole and turns it into a [`PhoneSpec`], so the start of the gateway
//! and the check of the file apply one set of rules, and each mistake is
//! refused with the key named (`sms.url`, `voice.argv[0]`, ...).

use crate::config::check_url;
use crate::phone_template::{fill, has, Encoding, Slot};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `[sms]` or `[voice]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneConfig {
    /// `"http"` or `"command"`.
    pub kind: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub basic_user: Option<String>,
    #[serde(default)]
    pub basic_password_file: Option<PathBuf>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// A secret for `{secret}` in the URL, body or a header.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    /// Time for one attempt (default: `delivery.timeout_secs`).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    // Secrets written inline: read only to be refused with a pointer to
    // the key that takes a file, instead of a bare "unknown field".
    #[serde(default, deserialize_with = "present")]
    bearer_token: bool,
    #[serde(default, deserialize_with = "present")]
    basic_password: bool,
    #[serde(default, deserialize_with = "present")]
    secret: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(true)
}

/// A checked table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneSpec {
    Http(HttpSpec),
    Command(CommandSpec),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// The URL template; placeholders are percent-encoded into it.
    pub url: String,
    pub method: reqwest::Method,
    pub body: Option<String>,
    pub content_type: ContentType,
    /// Extra headers; a value may hold `{secret}`, nothing else.
    pub headers: Vec<(String, String)>,
    pub auth: HttpAuth,
    pub secret_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAuth {
    None,
    Basic {
        user: String,
        password_file: PathBuf,
    },
    Bearer {
        token_file: PathBuf,
    },
}

/// How `body` is sent, and so how placeholders are escaped in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Form,
    Json,
    Text,
}

impl ContentType {
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Form => "application/x-www-form-urlencoded",
            ContentType::Json => "application/json",
            ContentType::Text => "text/plain; charset=utf-8",
        }
    }

    pub fn encoding(self) -> Encoding {
        match self {
            ContentType::Form => Encoding::Form,
            ContentType::Json => Encoding::Json,
            ContentType::Text => Encoding::Raw,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

/// Values that stand in for the real ones when a template is checked.
fn sample(slot: Slot) -> &'static str {
    match slot {
        Slot::To => "+15551234567",
        Slot::Message => "pam_mfa: your code is 123456.",
        Slot::Secret => "secret",
    }
}

/// Methods an SMS or voice API is called with.
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "PATCH"];
/// Headers set by other keys, or by the HTTP client itself.
const MANAGED_HEADERS: [(&str, &str); 4] = [
    ("content-type", "set by content_type"),
    ("content-length", "set by the gateway"),
    ("host", "taken from the url"),
    ("transfer-encoding", "set by the gateway"),
];
/// Headers that carry credentials: only through `{secret}`.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

impl PhoneConfig {
    /// Check the table `section` (`"sms"` or `"voice"`) and resolve it;
    /// `default_timeout` is `delivery.timeout_secs`.
    pub fn resolve(&self, section: &str, default_timeout: u64) -> Result<PhoneSpec, String> {
        let key = |k: &str| format!("{section}.{k}");
        for (given, inline, file) in [
            (self.bearer_token, "bearer_token", "bearer_token_file"),
            (self.basic_password, "basic_password", "basic_password_file"),
            (self.secret, "secret", "secret_file"),
        ] {
            if given {
                return Err(format!(
                    "{}: secrets are not accepted in the configuration; put it in a file \
                     that only the gateway's user can read and set {}",
                    key(inline),
                    key(file)
                ));
            }
        }
        let timeout_secs = self.timeout_secs.unwrap_or(default_timeout);
        if !(1..=60).contains(&timeout_secs) {
            return Err(format!(
                "{} must be 1..=60, not {timeout_secs}",
                key("timeout_secs")
            ));
        }
        let timeout = Duration::from_secs(timeout_secs);
        match self.kind.as_str() {
            "http" => self.resolve_http(section, timeout).map(PhoneSpec::Http),
            "command" => self
                .resolve_command(section, timeout)
                .map(PhoneSpec::Command),
            other => Err(format!(
                "{} must be \"http\" or \"command\", not \"{}\"",
                key("kind"),
                other.escape_default()
            )),
        }
    }

    fn resolve_http(&self, section: &str, timeout: Duration) -> Result<HttpSpec, String> {
        let key = |k: &str| format!("{section}.{k}");
        if self.argv.is_some() {
            return Err(format!(
                "{} is only for kind = \"command\"; {section} has kind = \"http\"",
                key("argv")
            ));
        }
        let url = self
            .url
            .clone()
            .ok_or_else(|| format!("{} is required with kind = \"http\"", key("url")))?;
        check_url_template(&key("url"), &url)?;
        let method = self
            .method
            .as_deref()
            .unwrap_or("POST")
            .to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(format!(
                "{} must be one of {}, not \"{}\"",
                key("method"),
                METHODS.join(", "),
                self.method.as_deref().unwrap_or_default().escape_default()
            ));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("{} is not an HTTP method", key("method")))?;
        let content_type = match self.content_type.as_deref() {
            None | Some("form") => ContentType::Form,
            Some("json") => ContentType::Json,
            Some("text") => ContentType::Text,
            Some(other) => {
                return Err(format!(
                    "{} must be \"form\", \"json\" or \"text\", not \"{}\"",
                    key("content_type"),
                    other.escape_default()
                ))
            }
        };
        match &self.body {
            Some(_) if method == reqwest::Method::GET => {
                return Err(format!(
                    "{} is not sent with method = \"GET\": put {{to}} and {{message}} \
                     into the query of {}, or use POST",
                    key("body"),
                    key("url")
                ))
            }
            Some(body) if content_type == ContentType::Json => {
                let filled = fill(body, Encoding::Json, sample);
                serde_json::from_str::<serde_json::Value>(&filled).map_err(|e| {
                    format!(
                        "{} is not valid JSON once {{to}} and {{message}} are filled in ({e}); \
                         write placeholders inside quotes: \"text\": \"{{message}}\"",
                        key("body")
                    )
                })?;
            }
            None if self.content_type.is_some() => {
                return Err(format!(
                    "{} says how {} is sent, and there is no body",
                    key("content_type"),
                    key("body")
                ))
            }
            _ => {}
        }
        let in_request =
            |slot| has(&url, slot) || self.body.as_deref().is_some_and(|b| has(b, slot));
        for slot in [Slot::To, Slot::Message] {
            if !in_request(slot) {
                return Err(format!(
                    "{section}: {} appears neither in {} nor in {}, so the {} would never \
                     reach the provider",
                    slot.placeholder(),
                    key("url"),
                    key("body"),
                    if slot == Slot::To { "number" } else { "code" }
                ));
            }
        }
        let headers = self.check_headers(section)?;
        let secret_used =
            in_request(Slot::Secret) || headers.iter().any(|(_, v)| has(v, Slot::Secret));
        match (&self.secret_file, secret_used) {
            (Some(_), false) => {
                return Err(format!(
                    "{} is set, but {{secret}} appears nowhere in {}, {} or {}",
                    key("secret_file"),
                    key("url"),
                    key("body"),
                    key("headers")
                ))
            }
            (None, true) => {
                return Err(format!(
                    "{section} uses {{secret}}: set {} to the file that holds it",
                    key("secret_file")
                ))
            }
            _ => {}
        }
        let auth = self.check_auth(section, &headers)?;
        Ok(HttpSpec {
            url,
            method,
            body: self.body.clone(),
            content_type,
            headers,
            auth,
            secret_file: self.secret_file.clone(),
            timeout,
        })
    }

    fn check_headers(&self, section: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            let key = format!("{section}.headers.{name}");
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{key}: not a valid header name"))?;
            let lower = name.to_ascii_lowercase();
            if let Some((_, why)) = MANAGED_HEADERS.iter().find(|(h, _)| *h == lower) {
                return Err(format!("{key}: this header is {why}"));
            }
            if CREDENTIAL_HEADERS.contains(&lower.as_str()) && !has(value, Slot::Secret) {
                return Err(format!(
                    "{key} would hold a credential in the configuration: use \
                     {section}.bearer_token_file, {section}.basic_user with \
                     {section}.basic_password_file, or {{secret}} with {section}.secret_file"
                ));
            }
            if has(value, Slot::To) || has(value, Slot::Message) {
                return Err(format!(
                    "{key}: {{to}} and {{message}} go into the url or the body, not a header"
                ));
            }
            let filled = fill(value, Encoding::Raw, sample);
            reqwest::header::HeaderValue::from_str(&filled)
                .map_err(|_| format!("{key}: not a valid header value"))?;
            out.push((name.clone(), value.clone()));
        }
        Ok(out)
    }

    fn check_auth(&self, section: &str, headers: &[(String, String)]) -> Result<HttpAuth, String> {
        let key = |k: &str| format!("{section}.{k}");
        let auth = match (
            &self.basic_user,
            &self.basic_password_file,
            &self.bearer_token_file,
        ) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(format!(
                    "{} and {} exclude each other: an API takes one kind of credential",
                    key("basic_user"),
                    key("bearer_token_file")
                ))
            }
            (Some(user), Some(file), None) => {
                if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
                    return Err(format!(
                        "{} must be non-empty, without ':' or control characters",
                        key("basic_user")
                    ));
                }
                HttpAuth::Basic {
                    user: user.clone(),
                    password_file: file.clone(),
                }
            }
            (Some(_), None, None) => {
                return Err(format!(
                    "{} needs {} (the password, in a file)",
                    key("basic_user"),
                    key("basic_password_file")
                ))
            }
            (None, Some(_), None) => {
                return Err(format!(
                    "{} needs {}",
                    key("basic_password_file"),
                    key("basic_user")
                ))
            }
            (None, None, Some(file)) => HttpAuth::Bearer {
                token_file: file.clone(),
            },
            (None, None, None) => HttpAuth::None,
        };
        if auth != HttpAuth::None
            && headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            return Err(format!(
                "{}.headers.Authorization and the {section} credentials both set \
                 Authorization: keep one",
                section
            ));
        }
        Ok(auth)
    }

    fn resolve_command(&self, section: &str, timeout: Duration) -> Result<CommandSpec, String> {
        let key = |k: &str| format!("{section}.{k}");
        let http_keys = [
            ("url", self.url.is_some()),
            ("method", self.method.is_some()),
            ("body", self.body.is_some()),
            ("content_type", self.content_type.is_some()),
            ("headers", !self.headers.is_empty()),
            ("basic_user", self.basic_user.is_some()),
            ("basic_password_file", self.basic_password_file.is_some()),
            ("bearer_token_file", self.bearer_token_file.is_some()),
            ("secret_file", self.secret_file.is_some()),
        ];
        if let Some((k, _)) = http_keys.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{} is only for kind = \"http\"; {section} has kind = \"command\"",
                key(k)
            ));
        }
        let argv = self
            .argv
            .clone()
            .ok_or_else(|| format!("{} is required with kind = \"command\"", key("argv")))?;
        let first = argv
            .first()
            .ok_or_else(|| format!("{} must name a program: it is empty", key("argv")))?;
        if !Path::new(first).is_absolute() || first.contains('{') {
            return Err(format!(
                "{section}.argv[0] must be an absolute path to the program (e.g. \
                 /usr/bin/gammu-smsd-inject), not \"{}\": no shell and no PATH lookup",
                first.escape_default()
            ));
        }
        for (i, arg) in argv.iter().enumerate() {
            if arg.contains('\0') {
                return Err(format!("{section}.argv[{i}] holds a NUL character"));
            }
            if has(arg, Slot::Secret) {
                return Err(format!(
                    "{section}.argv[{i}]: {{secret}} is for kind = \"http\"; every user \
                     can read a command's arguments"
                ));
            }
        }
        for slot in [Slot::To, Slot::Message] {
            if !argv.iter().any(|a| has(a, slot)) {
                return Err(format!(
                    "{}: no argument holds {}, so the {} would never reach the command",
                    key("argv"),
                    slot.placeholder(),
                    if slot == Slot::To { "number" } else { "code" }
                ));
            }
        }
        Ok(CommandSpec { argv, timeout })
    }
}

/// The URL with sample values must be an http(s) URL with a host, and the
/// placeholders must come after the host: a number or a message can then
/// change a path or a query, never where the request goes.
fn check_url_template(key: &str, url: &str) -> Result<(), String> {
    let authority_end = url
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| {
            url[start..]
                .find(['/', '?', '#'])
                .map(|end| start + end)
                .or(Some(url.len()))
        })
        .unwrap_or(0);
    if url[..authority_end].contains('{') {
        return Err(format!(
            "{key}: placeholders may appear only after the host (in the path or the query)"
        ));
    }
    let filled = fill(url, Encoding::Url, sample);
    if filled.contains('{') || filled.contains('}') {
        return Err(format!(
            "{key} has a placeholder other than {{to}}, {{message}} and {{secret}}"
        ));
    }
    check_url(key, &filled, false)?;
    let parsed = reqwest::Url::parse(&filled).map_err(|e| format!("{key}: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{key} must not hold a user name or password: use basic_user and \
             basic_password_file"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "phone_config_tests.rs"]
mod tests;
