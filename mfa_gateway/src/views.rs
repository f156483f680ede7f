//! The approval page's HTML, from askama templates checked at compile time
//! (`templates/`), escaped by askama. What a push shows, in UTC and with
//! the time left, and the texts of every result page.

use askama::Template;
use mfa_proto::push::{Decided, PushKind, PushView};

/// The stylesheet, served at `/style.css`.
pub const STYLE_CSS: &str = include_str!("../static/style.css");
/// The stylesheet's address from a page under `/p/`: relative, so a
/// reverse proxy may serve the gateway under a prefix.
pub const CSS_FROM_LINK: &str = "../style.css";
pub const CSS_FROM_ROOT: &str = "/style.css";

#[derive(Template)]
#[template(path = "approve.html")]
struct ApprovePage<'a> {
    title: &'a str,
    css: &'a str,
    test: bool,
    label: &'a str,
    user: &'a str,
    host: &'a str,
    service: &'a str,
    rhost: &'a str,
    created: String,
    expires: String,
    left: String,
    digits: u8,
    pattern: String,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    css: &'a str,
    heading: &'a str,
    text: &'a str,
    /// CSS class of the text: `ok`, `bad` or empty.
    tone: &'a str,
}

/// The form for a pending push. `csrf` is the hidden field for its token.
pub fn approve_page(view: &PushView, csrf: &str, now: i64) -> Result<String, askama::Error> {
    // An absurd width from mfad would only make a silly input field.
    let digits = view.number_digits.clamp(1, 12);
    ApprovePage {
        title: match view.kind {
            PushKind::Login => "Approve login",
            PushKind::Test => "Confirm push target",
        },
        css: CSS_FROM_LINK,
        test: view.kind == PushKind::Test,
        label: &view.label,
        user: &view.user,
        host: &view.host,
        service: &view.service,
        rhost: view
            .rhost
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("unknown"),
        created: utc(view.created_at),
        expires: utc(view.expires_at),
        left: time_left(view.expires_at - now),
        digits,
        pattern: format!("[0-9]{{{digits}}}"),
        csrf,
    }
    .render()
}

/// A page with a heading and one sentence.
pub fn message_page(
    css: &str,
    heading: &str,
    text: &str,
    tone: &str,
) -> Result<String, askama::Error> {
    MessagePage {
        title: heading,
        css,
        heading,
        text,
        tone,
    }
    .render()
}

/// Heading, text and tone of the page after a decision.
pub fn decided_text(outcome: Decided) -> (&'static str, &'static str, &'static str) {
    match outcome {
        Decided::Approved => ("Approved", "Approved. You can close this page.", "ok"),
        Decided::Denied => ("Denied", "Denied. The login was refused.", "bad"),
        Decided::WrongNumber => (
            "Wrong number",
            "That number does not match the one shown at the login. The login was denied.",
            "bad",
        ),
        Decided::Reported => (
            "Reported",
            "Reported. The login was denied and pushes to your account are paused.",
            "bad",
        ),
    }
}

/// `2026-12-01 16:21:58 UTC`.
pub fn utc(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `in 1 min 05 s`, `in 40 s`, `expired`.
pub fn time_left(secs: i64) -> String {
    match secs {
        s if s <= 0 => "expired".into(),
        s if s < 60 => format!("in {s} s"),
        s if s < 3600 => format!("in {} min {:02} s", s / 60, s % 60),
        s => format!("in {} h {:02} min", s / 3600, s / 60 % 60),
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`), to print UTC without a date library.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn view(kind: PushKind) -> PushView {
        PushView {
            kind,
            label: "phone".into(),
            user: "ann".into(),
            host: "lab1".into(),
            service: "sshd".into(),
            rhost: Some("192.0.2.7".into()),
            created_at: 1_800_000_000,
            expires_at: 1_800_000_120,
            number_digits: 6,
        }
    }

    #[test]
    fn the_page_has_the_form_contract_and_no_number() {
        let html = approve_page(&view(PushKind::Login), "CSRF-FIELD", 1_800_000_030).unwrap();
        for part in [
            r#"<form method="post">"#,
            r#"<input type="hidden" name="csrf" value="CSRF-FIELD">"#,
            r#"name="number""#,
            r#"inputmode="numeric""#,
            r#"autocomplete="off""#,
            r#"maxlength="6""#,
            r#"pattern="[0-9]{6}""#,
            r#"<button type="submit" name="decision" value="approve""#,
            r#"name="decision" value="deny" class="deny" formnovalidate>"#,
            r#"name="decision" value="report" class="report" formnovalidate>This wasn't me<"#,
            r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#,
            r#"href="../style.css""#,
            "Type the number shown at the login prompt",
            "ann",
            "lab1",
            "sshd",
            "192.0.2.7",
            "2027-01-15 08:00:00 UTC",
            "2027-01-15 08:02:00 UTC",
            "in 1 min 30 s",
        ] {
            assert!(html.contains(part), "missing {part:?} in {html}");
        }
        assert!(!html.contains("<script"), "{html}");
        assert!(
            !html.contains("style="),
            "inline styles break the CSP: {html}"
        );
        assert!(!html.contains("http"), "no external assets: {html}");
    }

    #[test]
    fn a_test_push_names_its_target() {
        let html = approve_page(&view(PushKind::Test), "c", 1_800_000_000).unwrap();
        assert!(
            html.contains("Test notification for your new push target phone<"),
            "{html}"
        );
    }

    #[test]
    fn fields_are_escaped() {
        let mut v = view(PushKind::Login);
        v.user = "<script>alert(1)</script>".into();
        v.rhost = None;
        let html = approve_page(&v, "c", 0).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
        assert!(html.contains("<dd>unknown</dd>"), "{html}");
    }

    #[test]
    fn times_are_utc_and_the_time_left_is_readable() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_614_265_330), "2021-02-25 15:02:10 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(time_left(-5), "expired");
        assert_eq!(time_left(0), "expired");
        assert_eq!(time_left(42), "in 42 s");
        assert_eq!(time_left(65), "in 1 min 05 s");
        assert_eq!(time_left(7260), "in 2 h 01 min");
    }

    #[test]
    fn result_pages_say_what_happened() {
        let (_, text, _) = decided_text(Decided::Approved);
        assert_eq!(text, "Approved. You can close this page.");
        let (_, text, _) = decided_text(Decided::WrongNumber);
        assert_eq!(
            text,
            "That number does not match the one shown at the login. The login was denied."
        );
        let (_, text, _) = decided_text(Decided::Reported);
        assert_eq!(
            text,
            "Reported. The login was denied and pushes to your account are paused."
        );
        let html = message_page(CSS_FROM_ROOT, "Gone", "This link has expired.", "").unwrap();
        assert!(html.contains("<h1>Gone</h1>") && html.contains("This link has expired."));
    }
}
