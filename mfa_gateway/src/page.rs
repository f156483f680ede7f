//! The approval page: `GET /p/{token}` shows a pending push, `POST` sends
//! the decision typed there to mfad. GET never decides anything. Links
//! not shaped like mfad's tokens and posts without this page's CSRF field
//! are answered here, without asking mfad. Every answer carries the same
//! strict headers, and the number of requests in progress is capped.

use crate::budget::Budget;
use crate::link::{is_token, CsrfKey};
use crate::mfad::Mfad;
use crate::views::{self, CSS_FROM_LINK, CSS_FROM_ROOT};
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use mfa_proto::push::{Decided, Decision};
use mfa_proto::{ErrorCode, Request as MfadRequest, Response as MfadResponse, Sensitive};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Requests being answered at once; more get 429.
pub const MAX_IN_FLIGHT: usize = 64;
/// The largest form body accepted (413 beyond).
pub const MAX_BODY: usize = 4096;
/// One request as a whole: reading the body and mfad's answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Reading a form's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// No script at all; styles only from this server; the form posts only
/// here; no framing (clickjacking an Approve button).
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub struct PageState {
    pub mfad: Arc<Mfad>,
    pub csrf: CsrfKey,
    pub in_flight: Arc<Semaphore>,
    /// Page requests that may ask mfad (see [`crate::budget`]).
    pub budget: Budget,
}

impl PageState {
    pub fn new(mfad: Arc<Mfad>, csrf: CsrfKey) -> Self {
        PageState {
            mfad,
            csrf,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            budget: Budget::default(),
        }
    }
}

pub fn router(state: Arc<PageState>) -> Router {
    Router::new()
        .route(
            "/p/{token}",
            get(view).post(decide).fallback(method_not_allowed),
        )
        .route("/style.css", get(style).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), limits))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: Sensitive,
    #[serde(default)]
    decision: String,
}

async fn view(
    State(s): State<Arc<PageState>>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Some(token) = token.ok().map(|Path(t)| t).filter(|t| is_token(t)) else {
        return bad_link();
    };
    if !s.budget.take(std::time::Instant::now()) {
        return busy();
    }
    let now = crate::deliver::unix_now();
    let req = MfadRequest::GatewayView {
        token: Sensitive::new(token.as_str()),
    };
    match s.mfad.call(&req).await {
        Ok(MfadResponse::PushPage(v)) => {
            match views::approve_page(&v, &s.csrf.field(&token), now) {
                Ok(html) => Html(html).into_response(),
                Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot render the page"),
            }
        }
        Ok(answer) => mfad_trouble(answer),
        Err(e) => unavailable(&e),
    }
}

async fn decide(
    State(s): State<Arc<PageState>>,
    token: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    let Some(token) = token.ok().map(|Path(t)| t).filter(|t| is_token(t)) else {
        return bad_link();
    };
    // The body gets a deadline of its own: a client that trickles it must
    // not hold a request slot for the whole request timeout.
    let form =
        match tokio::time::timeout(BODY_TIMEOUT, Form::<DecideForm>::from_request(req, &s)).await {
            Ok(Ok(Form(f))) => f,
            Err(_) => return too_slow(),
            Ok(Err(rejection)) => {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    return too_large();
                }
                let text = "The form could not be read. Open the link from the notification again.";
                return page(status, CSS_FROM_LINK, "Bad request", text, "bad");
            }
        };
    if !s.csrf.check(&token, &form.csrf) {
        return page(
            StatusCode::FORBIDDEN,
            CSS_FROM_LINK,
            "Form expired",
            "This form did not come from the approval page, or the gateway restarted since it \
             was shown. Nothing was decided. Open the link from the notification again.",
            "bad",
        );
    }
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "deny" => Decision::Deny,
        "report" => Decision::Report,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                CSS_FROM_LINK,
                "Bad request",
                "Choose Approve, Deny or This was not me.",
                "bad",
            )
        }
    };
    let number = match decision {
        Decision::Approve => {
            let typed = form.number.expose().trim();
            // Not a guess worth spending the push on: the browser checks
            // this too, so only a hand-made post gets here.
            if typed.is_empty() || typed.len() > 12 || !typed.bytes().all(|b| b.is_ascii_digit()) {
                return page(
                    StatusCode::BAD_REQUEST,
                    CSS_FROM_LINK,
                    "Type the number",
                    "Type the number shown at the login prompt, digits only. Nothing was decided: go back and try again.",
                    "bad",
                );
            }
            Sensitive::new(typed)
        }
        Decision::Deny | Decision::Report => Sensitive::default(),
    };
    if !s.budget.take(std::time::Instant::now()) {
        return busy();
    }
    let req = MfadRequest::GatewayDecide {
        token: Sensitive::new(token.as_str()),
        number,
        decision,
    };
    match s.mfad.call(&req).await {
        Ok(MfadResponse::PushDecided { outcome }) => {
            eprintln!("mfa-gateway: decision: {}", outcome_name(outcome));
            let (heading, text, tone) = views::decided_text(outcome);
            page(StatusCode::OK, CSS_FROM_LINK, heading, text, tone)
        }
        Ok(answer) => mfad_trouble(answer),
        Err(e) => unavailable(&e),
    }
}

fn outcome_name(o: Decided) -> &'static str {
    match o {
        Decided::Approved => "approved",
        Decided::Denied => "denied",
        Decided::WrongNumber => "wrong number",
        Decided::Reported => "reported",
    }
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        views::STYLE_CSS,
    )
        .into_response()
}

async fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        CSS_FROM_ROOT,
        "Not found",
        "There is nothing here.",
        "",
    )
}

async fn method_not_allowed() -> Response {
    let mut r = page(
        StatusCode::METHOD_NOT_ALLOWED,
        CSS_FROM_ROOT,
        "Method not allowed",
        "This address takes only GET and POST.",
        "",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    r
}

/// A link that cannot be one of mfad's: said without asking mfad.
fn bad_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        CSS_FROM_LINK,
        "Link not valid",
        "This link is not valid. Open the link from the notification again.",
        "bad",
    )
}

fn gone() -> Response {
    page(
        StatusCode::GONE,
        CSS_FROM_LINK,
        "Link expired",
        "This link has expired or was already used.",
        "",
    )
}

fn mfad_trouble(answer: MfadResponse) -> Response {
    match answer {
        MfadResponse::Error {
            code: ErrorCode::NotFound,
            ..
        } => gone(),
        MfadResponse::Error { code, message } => {
            eprintln!("mfa-gateway: mfad refused a page request: {message} ({code:?})");
            service_down()
        }
        _ => {
            eprintln!("mfa-gateway: mfad answered a page request with something else");
            service_down()
        }
    }
}

/// Over the budget of requests to mfad: nothing was asked or decided.
fn busy() -> Response {
    let mut r = page(
        StatusCode::TOO_MANY_REQUESTS,
        CSS_FROM_LINK,
        "Busy",
        "Too many requests right now. Nothing was decided. Try again in a few seconds.",
        "bad",
    );
    let secs = crate::budget::RETRY_AFTER.as_secs().to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn unavailable(e: &crate::mfad::MfadError) -> Response {
    eprintln!("mfa-gateway: page request: {e}");
    service_down()
}

fn service_down() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        CSS_FROM_LINK,
        "Try again",
        "The approval service cannot be reached right now. Nothing was decided. Try again in a moment.",
        "bad",
    )
}

fn page(status: StatusCode, css: &str, heading: &str, text: &str, tone: &str) -> Response {
    match views::message_page(css, heading, text, tone) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => plain(status, text),
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, text.to_owned()).into_response()
}

/// The cap on requests in progress and the time one may take. A request
/// over the cap is refused at once rather than queued, so a flood costs
/// memory for at most [`MAX_IN_FLIGHT`] requests.
async fn limits(State(s): State<Arc<PageState>>, req: Request, next: Next) -> Response {
    let Ok(_slot) = s.in_flight.clone().try_acquire_owned() else {
        let mut r = page(
            StatusCode::TOO_MANY_REQUESTS,
            CSS_FROM_ROOT,
            "Busy",
            "Too many requests right now. Try again in a moment.",
            "bad",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    };
    // Refused before a byte of it is read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return too_large();
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => too_slow(),
    }
}

fn too_large() -> Response {
    page(
        StatusCode::PAYLOAD_TOO_LARGE,
        CSS_FROM_ROOT,
        "Too large",
        "The request was too large.",
        "bad",
    )
}

fn too_slow() -> Response {
    page(
        StatusCode::REQUEST_TIMEOUT,
        CSS_FROM_ROOT,
        "Timed out",
        "The request took too long. Try again.",
        "bad",
    )
}

/// The same headers on every answer. The token is in the URL, so no
/// referrer and no caching; the page must never be framed.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    r
}
