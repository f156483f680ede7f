//! Codes through an SMS or voice API over HTTP (`kind = "http"`): the
//! request is made from the templates once per delivery, so retries send
//! the same bytes, and is judged like a push: 2xx is sent; a network
//! error, a timeout, a 5xx or a 429 is tried again; any other answer is a
//! final failure. Reasons never hold the URL (it holds the number and
//! maybe a secret) nor the body (it holds the code).

use crate::deliver::{describe, judge, retrying, Failure, Outcome};
use crate::phone_config::{ContentType, HttpAuth, HttpSpec};
use crate::phone_template::{fill, Encoding, Slot};
use crate::secrets::{ApiSecret, SecretError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};
use zeroize::Zeroizing;

pub struct HttpProvider {
    client: reqwest::Client,
    method: Method,
    url: String,
    body: Option<(String, ContentType)>,
    headers: Vec<(HeaderName, String)>,
    auth: Auth,
    secret: Option<ApiSecret>,
    retries: u32,
}

enum Auth {
    None,
    Basic { user: String, password: ApiSecret },
    Bearer(ApiSecret),
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("{0}")]
    Invalid(String),
}

/// The request of one delivery, made once.
struct Prepared {
    url: Url,
    headers: HeaderMap,
    body: Option<Zeroizing<Vec<u8>>>,
}

impl HttpProvider {
    /// Read the secret files (once, here) and set up the client.
    pub fn new(section: &str, spec: &HttpSpec, retries: u32) -> Result<Self, HttpSetupError> {
        let client = reqwest::Client::builder()
            .timeout(spec.timeout)
            .connect_timeout(spec.timeout)
            // A redirect would carry the code to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mfa-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let auth = match &spec.auth {
            HttpAuth::None => Auth::None,
            HttpAuth::Basic {
                user,
                password_file,
            } => Auth::Basic {
                user: user.clone(),
                password: ApiSecret::load(password_file, false)?,
            },
            HttpAuth::Bearer { token_file } => Auth::Bearer(ApiSecret::load(token_file, true)?),
        };
        let secret = spec
            .secret_file
            .as_deref()
            .map(|p| ApiSecret::load(p, false))
            .transpose()?;
        let mut headers = Vec::new();
        for (name, value) in &spec.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                HttpSetupError::Invalid(format!("{section}.headers.{name}: not a header name"))
            })?;
            headers.push((name, value.clone()));
        }
        let provider = HttpProvider {
            client,
            method: spec.method.clone(),
            url: spec.url.clone(),
            body: spec.body.clone().map(|b| (b, spec.content_type)),
            headers,
            auth,
            secret,
            retries,
        };
        // The secret is known now: check once that the headers it goes
        // into are valid, instead of failing every delivery.
        provider
            .prepare("+15551234567", "check")
            .map_err(|e| HttpSetupError::Invalid(format!("{section}: {e}")))?;
        Ok(provider)
    }

    /// The host the API is on, for the start-up line.
    pub fn host(&self) -> String {
        self.url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .unwrap_or_default()
            .to_string()
    }

    /// Send `message` to `to` (already checked to be E.164).
    pub async fn send(&self, to: &str, message: &str) -> Outcome {
        let prepared = match self.prepare(to, message) {
            Ok(p) => p,
            Err(reason) => {
                return Outcome {
                    attempts: 0,
                    result: Err(reason),
                }
            }
        };
        retrying(self.retries, || self.attempt(&prepared)).await
    }

    fn prepare(&self, to: &str, message: &str) -> Result<Prepared, String> {
        let secret = self.secret.as_ref().map_or("", |s| s.expose());
        let value = |slot| match slot {
            Slot::To => to,
            Slot::Message => message,
            Slot::Secret => secret,
        };
        let url = fill(&self.url, Encoding::Url, value);
        let url = Url::parse(&url).map_err(|_| "cannot make the request's URL".to_string())?;
        let mut headers = HeaderMap::new();
        for (name, template) in &self.headers {
            let filled = fill(template, Encoding::Raw, value);
            let mut v = HeaderValue::from_str(&filled)
                .map_err(|_| format!("header {name} is not a valid header value"))?;
            v.set_sensitive(template.contains(Slot::Secret.placeholder()));
            headers.insert(name.clone(), v);
        }
        let body = self.body.as_ref().map(|(template, ct)| {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct.mime()));
            let filled = fill(template, ct.encoding(), value);
            Zeroizing::new(filled.as_bytes().to_vec())
        });
        Ok(Prepared { url, headers, body })
    }

    async fn attempt(&self, p: &Prepared) -> Result<(), Failure> {
        let mut req = self
            .client
            .request(self.method.clone(), p.url.clone())
            .headers(p.headers.clone());
        if let Some(body) = &p.body {
            // reqwest owns this copy until it is sent; it cannot be wiped.
            req = req.body(body.to_vec());
        }
        req = match &self.auth {
            Auth::None => req,
            // Both mark the header sensitive for reqwest.
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
            Auth::Bearer(token) => req.bearer_auth(token.expose()),
        };
        match req.send().await {
            Ok(resp) => judge(resp.status()),
            Err(e) => Err(Failure::Retry(describe(&e))),
        }
    }
}
