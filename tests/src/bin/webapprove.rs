//! webapprove: the phone's part of a push login for shell scripts
//! (tests/e2e/run.sh): open an approval link in real headless Chromium,
//! type the number and press one of the page's buttons, as a person would.
//!
//! ```text
//! webapprove URL NUMBER approve|deny|report
//! ```
//!
//! Prints the resulting page's text. Exits 0 when that page reports the
//! decision asked for ("Approved", "Denied", "Reported"), 1 when it says
//! something else (a wrong number, an expired link), 2 on bad usage or a
//! browser that could not be driven.

use anyhow::{bail, Context, Result};
use mfa_tests::Browser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("webapprove: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, number, decision] = args.as_slice() else {
        bail!("usage: webapprove URL NUMBER approve|deny|report");
    };
    let expected = match decision.as_str() {
        "approve" => "Approved",
        "deny" => "Denied",
        "report" => "Reported",
        other => bail!("unknown decision {other:?}: approve, deny or report"),
    };
    let browser = Browser::start().context("starting headless Chromium")?;
    browser.goto(url)?;
    // Deny and report need no number, but the field is on the page for
    // all three buttons; typing it costs nothing and is what people do.
    browser
        .fill("number", number)
        .with_context(|| format!("no number field on the page: {}", text_of(&browser)))?;
    browser.click_submit("decision", decision)?;
    let text = browser.page_text()?;
    println!("{text}");
    Ok(text.lines().any(|l| l.trim() == expected) || text.contains(&format!("{expected}.")))
}

/// The page's text for an error message, or why it could not be read.
fn text_of(browser: &Browser) -> String {
    browser
        .page_text()
        .unwrap_or_else(|e| format!("(page text unavailable: {e})"))
}
