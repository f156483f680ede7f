//! Codes for phones through the real gateway binary: a fake mfad hands it
//! `PhoneDelivery`s, a loopback stand-in for an SMS or voice API records
//! what arrives (or real scripts written here play a local sender), and
//! mfad gets the report. The gateway's log is read in every test: it
//! never holds the code, nor the number but for its last digits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::*;
use mfa_proto::phone::{message, Channel, PhoneDelivery, PhonePurpose};
use mfa_proto::push::Provider;
use mfa_proto::{Request, Sensitive};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const CODE: &str = "482913";
const SLOW: &str = "4, 8, 2, 9, 1, 3";
const TO: &str = "+15551234567";
const ISSUER: &str = "Physics Lab";

fn code_for(id: &str, channel: Channel, host: &str) -> PhoneDelivery {
    PhoneDelivery {
        id: id.into(),
        channel,
        to: TO.into(),
        code: Sensitive::new(CODE),
        purpose: PhonePurpose::Login,
        host: host.into(),
        expires_in_secs: 300,
    }
}

fn report_for(id: &str) -> impl Fn(&Request) -> bool + '_ {
    move |r| matches!(r, Request::GatewayReport { id: i, .. } if i == id)
}

/// What mfad was told about `id`: delivered, and the error.
async fn report(mfad: &FakeMfad, id: &str, within: Duration) -> (bool, Option<String>) {
    match mfad.wait_for(within, report_for(id)).await {
        Request::GatewayReport {
            delivered, error, ..
        } => (delivered, error),
        _ => unreachable!(),
    }
}

/// The `info` of the gateway's first poll.
async fn first_poll(mfad: &FakeMfad) -> mfa_proto::push::GatewayInfo {
    match mfad
        .wait_for(5 * SECOND, |r| matches!(r, Request::GatewayPoll { .. }))
        .await
    {
        Request::GatewayPoll { info, .. } => info,
        _ => unreachable!(),
    }
}

/// Neither the code (as sent or as read out) nor the whole number.
fn assert_clean(text: &str) {
    for secret in [CODE, SLOW, &TO[1..], "5551234567"] {
        assert!(!text.contains(secret), "{secret:?} in:\n{text}");
    }
}

/// Form or query pairs, decoded.
fn pairs(encoded: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{encoded}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    &pairs.iter().find(|(k, _)| k == key).unwrap().1
}

/// An executable shell script in `dir`.
fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{text}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_goes_out_as_a_form_post_with_basic_auth_and_is_reported() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let api = StandIn::start(0).await;
    let pw = secret_file(dir.path(), "twilio", "s3cret pw\n");
    let gw = GatewayProcess::start(
        dir.path(),
        &mfad.path,
        &format!(
            "issuer = \"{ISSUER}\"\n[sms]\nkind = \"http\"\n\
             url = \"{}/2010-04-01/Accounts/AC1/Messages.json\"\nmethod = \"POST\"\n\
             content_type = \"form\"\nbody = \"To={{to}}&From=%2B15550001111&Body={{message}}\"\n\
             basic_user = \"AC1\"\nbasic_password_file = {pw:?}\n",
            api.url
        ),
    );
    // An SMS-only gateway: no push provider, one phone channel.
    let info = first_poll(&mfad).await;
    assert_eq!(info.phone, vec![Channel::Sms]);
    assert_eq!(info.providers, Vec::<Provider>::new());

    // Characters that mean something in a form reach the API as they are.
    let d = code_for("ph-1", Channel::Sms, "lab&042=a+b %");
    mfad.queue_phone(d.clone());
    assert_eq!(report(&mfad, "ph-1", 5 * SECOND).await, (true, None));
    let got = api.got();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.uri.path(), "/2010-04-01/Accounts/AC1/Messages.json");
    assert_eq!(
        r.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("AC1:s3cret pw");
    assert_eq!(
        r.headers["authorization"],
        format!("Basic {basic}").as_str()
    );
    let form = pairs(std::str::from_utf8(&r.body).unwrap());
    assert_eq!(value(&form, "To"), TO);
    assert_eq!(value(&form, "From"), "+15550001111");
    let text = message(&d, ISSUER);
    assert_eq!(value(&form, "Body"), text);
    assert!(
        text.contains(CODE) && text.starts_with("Physics Lab:"),
        "{text}"
    );
    assert_eq!(form.len(), 3, "{form:?}");

    let log = gw.stop().await;
    assert!(log.contains("codes by sms via http (127.0.0.1:"), "{log}");
    assert!(
        log.contains("sms ph-1 to …67 via http: delivered (attempt 1)"),
        "{log}"
    );
    assert_clean(&log);
    assert!(!log.contains("s3cret"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_a_json_api_reads_the_code_slowly_twice() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let api = StandIn::start(0).await;
    let token = secret_file(dir.path(), "voice-token", "tk_voice_123\n");
    let gw = GatewayProcess::start(
        dir.path(),
        &mfad.path,
        &format!(
            "[voice]\nkind = \"http\"\nurl = \"{}/v1/calls\"\ncontent_type = \"json\"\n\
             body = '{{\"to\": \"{{to}}\", \"say\": \"{{message}}\", \"voice\": \"en-GB\"}}'\n\
             bearer_token_file = {token:?}\nheaders = {{ X-Client = \"pam_mfa\" }}\n",
            api.url
        ),
    );
    assert_eq!(first_poll(&mfad).await.phone, vec![Channel::Voice]);
    // Quotes and backslashes are escaped inside the JSON string.
    let d = code_for("ph-2", Channel::Voice, r#"lab "042" \ x"#);
    mfad.queue_phone(d.clone());
    assert_eq!(report(&mfad, "ph-2", 5 * SECOND).await, (true, None));
    let got = api.got();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.uri.path()), ("POST", "/v1/calls"));
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["authorization"], "Bearer tk_voice_123");
    assert_eq!(r.headers["x-client"], "pam_mfa");
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["to"], TO);
    assert_eq!(json["voice"], "en-GB");
    let say = json["say"].as_str().unwrap();
    assert_eq!(say, message(&d, "pam_mfa"));
    assert_eq!(say.matches(SLOW).count(), 2, "{say}");
    assert!(
        !say.contains(CODE) && say.contains(r#"lab "042" \ x"#),
        "{say}"
    );
    let log = gw.stop().await;
    assert!(
        log.contains("voice ph-2 to …67 via http: delivered"),
        "{log}"
    );
    assert_clean(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_api_gets_number_and_message_in_the_query_and_a_secret_header() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let api = StandIn::start(0).await;
    let key = secret_file(dir.path(), "sms-key", "key-XYZ\n");
    let sender = script(dir.path(), "call", "exit 0\n");
    let token = secret_file(dir.path(), "ntfy", "tk_x\n");
    let gw = GatewayProcess::start(
        dir.path(),
        &mfad.path,
        &format!(
            "[ntfy]\nurl = \"http://127.0.0.1:9\"\ntoken_file = {token:?}\n\
             [sms]\nkind = \"http\"\nmethod = \"GET\"\n\
             url = \"{}/api/send?dest={{to}}&text={{message}}&unicode=1\"\n\
             headers = {{ X-Api-Key = \"{{secret}}\" }}\nsecret_file = {key:?}\n\
             [voice]\nkind = \"command\"\nargv = [{sender:?}, \"{{to}}\", \"{{message}}\"]\n",
            api.url
        ),
    );
    let info = first_poll(&mfad).await;
    assert_eq!(info.phone, vec![Channel::Sms, Channel::Voice]);
    assert_eq!(info.providers, vec![Provider::Ntfy]);
    let d = code_for("ph-3", Channel::Sms, "lab?042#x&y=1/é");
    mfad.queue_phone(d.clone());
    assert_eq!(report(&mfad, "ph-3", 5 * SECOND).await, (true, None));
    let got = api.got();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.uri.path()), ("GET", "/api/send"));
    assert!(r.body.is_empty());
    assert!(r.headers.get("content-type").is_none());
    assert_eq!(r.headers["x-api-key"], "key-XYZ");
    let query = pairs(r.uri.query().unwrap());
    assert_eq!(value(&query, "dest"), TO);
    assert_eq!(value(&query, "text"), message(&d, "pam_mfa"));
    assert_eq!(value(&query, "unicode"), "1");
    assert_eq!(query.len(), 3, "{query:?}");
    let log = gw.stop().await;
    assert!(log.contains("codes by voice via command ("), "{log}");
    assert_clean(&log);
    assert!(!log.contains("key-XYZ"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_then_reported_as_not_delivered_without_the_code() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let api = StandIn::failing(500, usize::MAX).await;
    let gw = GatewayProcess::start(
        dir.path(),
        &mfad.path,
        &format!(
            "[sms]\nkind = \"http\"\nurl = \"{}/send/{{to}}\"\ncontent_type = \"text\"\n\
             body = \"{{message}}\"\n[delivery]\ntimeout_secs = 2\nretries = 2\n",
            api.url
        ),
    );
    first_poll(&mfad).await;
    let d = code_for("ph-4", Channel::Sms, "lab-042");
    mfad.queue_phone(d.clone());
    let (delivered, error) = report(&mfad, "ph-4", 8 * SECOND).await;
    assert!(!delivered);
    let error = error.unwrap();
    assert!(error.contains("500"), "{error}");
    assert_clean(&error);
    let got = api.got();
    assert_eq!(got.len(), 3, "the first attempt and 2 retries");
    assert!(got
        .iter()
        .all(|r| r.body == message(&d, "pam_mfa").as_bytes()));
    assert_eq!(got[0].uri.path(), "/send/%2B15551234567");
    assert_eq!(got[0].headers["content-type"], "text/plain; charset=utf-8");
    let log = gw.stop().await;
    assert!(
        log.contains("sms ph-4 to …67 via http: not delivered after 3 attempt(s)"),
        "{log}"
    );
    assert_clean(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried_and_bad_numbers_and_channels_send_nothing() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let api = StandIn::failing(400, usize::MAX).await;
    let gw = GatewayProcess::start(
        dir.path(),
        &mfad.path,
        &format!(
            "[sms]\nkind = \"http\"\nurl = \"{}/send\"\nbody = \"to={{to}}&m={{message}}\"\n\
             [delivery]\nretries = 3\n",
            api.url
        ),
    );
    first_poll(&mfad).await;
    mfad.queue_phone(code_for("ph-5", Channel::Sms, "lab-042"));
    let (delivered, error) = report(&mfad, "ph-5", 5 * SECOND).await;
    assert!(!delivered);
    assert!(error.as_deref().unwrap().contains("400"), "{error:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(api.got().len(), 1, "a 400 is final");

    // A number that is not E.164 is never filled in anywhere.
    for (id, to) in [
        ("ph-6", "+1555123456&m=x"),
        ("ph-7", "15551234567"),
        ("ph-8", "+1 555 123"),
    ] {
        let mut d = code_for(id, Channel::Sms, "lab-042");
        d.to = to.into();
        mfad.queue_phone(d);
        let (delivered, error) = report(&mfad, id, 5 * SECOND).await;
        assert!(!delivered);
        assert!(error.as_deref().unwrap().contains("E.164"), "{error:?}");
    }
    // No voice provider here: said so, nothing sent.
    mfad.queue_phone(code_for("ph-9", Channel::Voice, "lab-042"));
    let (delivered, error) = report(&mfad, "ph-9", 5 * SECOND).await;
    assert!(!delivered);
    assert_eq!(
        error.as_deref(),
        Some("no voice provider is configured on the gateway")
    );
    assert_eq!(api.got().len(), 1);
    let log = gw.stop().await;
    assert_clean(&log);
    assert!(!log.contains("1555123456"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_gets_each_argument_verbatim_and_no_shell_reads_them() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let out = dir.path().join("args");
    let env = dir.path().join("env");
    let sender = script(
        dir.path(),
        "inject",
        &format!(
            "printf '%s\\0' \"$@\" > '{}'\n\
             printf '%s\\0' \"$MFA_CHANNEL\" \"$MFA_TO\" \"$MFA_MESSAGE\" \"$(pwd)\" \"$HOME\" > '{}'\n",
            out.display(),
            env.display()
        ),
    );
    let gw = GatewayProcess::start(
        dir.path(),
        &mfad.path,
        &format!(
            "[sms]\nkind = \"command\"\n\
             argv = [{sender:?}, \"TEXT\", \"{{to}}\", \"-text\", \"{{message}}\", \"$(id) {{to}}\"]\n"
        ),
    );
    assert_eq!(first_poll(&mfad).await.phone, vec![Channel::Sms]);
    let pwned = dir.path().join("PWNED");
    let host = format!(
        "lab; rm -rf {0} $(touch {1}) `touch {1}` 'a' \"b\" | tee {1} \n*",
        dir.path().join("nothing").display(),
        pwned.display()
    );
    let d = code_for("ph-10", Channel::Sms, &host);
    mfad.queue_phone(d.clone());
    assert_eq!(report(&mfad, "ph-10", 5 * SECOND).await, (true, None));
    let args = std::fs::read(&out).unwrap();
    let args: Vec<&[u8]> = args.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
    let text = message(&d, "pam_mfa");
    let want: Vec<&[u8]> = vec![
        &b"TEXT"[..],
        TO.as_bytes(),
        &b"-text"[..],
        text.as_bytes(),
        &b"$(id) +15551234567"[..],
    ];
    assert_eq!(args, want);
    assert!(!pwned.exists(), "a shell read the message");
    let env = std::fs::read(&env).unwrap();
    let env: Vec<&[u8]> = env.split(|b| *b == 0).collect();
    let want: Vec<&[u8]> = vec![&b"sms"[..], TO.as_bytes(), text.as_bytes(), &b"/"[..]];
    assert_eq!(env[..4], want[..]);
    assert!(
        env[4].is_empty(),
        "the gateway's environment is not passed on"
    );
    let log = gw.stop().await;
    assert!(
        log.contains("sms ph-10 to …67 via command: delivered (attempt 1)"),
        "{log}"
    );
    assert_clean(&log);
}

/// Whether process `pid` is gone (or only a zombie left for init to reap).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_fails_or_hangs_is_reported_as_not_delivered() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    // It echoes the message, code and all, on stderr: the log must not.
    let failing = script(
        dir.path(),
        "fail",
        "echo \"modem busy: cannot send '$2' to $1\" >&2\necho \"retry later\" >&2\nexit 1\n",
    );
    let pidfile = dir.path().join("sleep.pid");
    let hanging = script(
        dir.path(),
        "hang",
        &format!(
            "sleep 30 &\necho $! > '{}'\necho \"calling $1\" >&2\nwait\n",
            pidfile.display()
        ),
    );
    let gw = GatewayProcess::start(
        dir.path(),
        &mfad.path,
        &format!(
            "[sms]\nkind = \"command\"\nargv = [{failing:?}, \"{{to}}\", \"{{message}}\"]\n\
             [voice]\nkind = \"command\"\nargv = [{hanging:?}, \"{{to}}\", \"{{message}}\"]\n\
             timeout_secs = 1\n"
        ),
    );
    assert_eq!(
        first_poll(&mfad).await.phone,
        vec![Channel::Sms, Channel::Voice]
    );
    mfad.queue_phone(code_for("ph-11", Channel::Sms, "lab-042"));
    let (delivered, error) = report(&mfad, "ph-11", 5 * SECOND).await;
    assert!(!delivered);
    assert_eq!(
        error.as_deref(),
        Some("the command exited with status 1"),
        "stderr stays out of mfad's database"
    );

    let started = Instant::now();
    mfad.queue_phone(code_for("ph-12", Channel::Voice, "lab-042"));
    let (delivered, error) = report(&mfad, "ph-12", 6 * SECOND).await;
    assert!(!delivered);
    assert_eq!(
        error.as_deref(),
        Some("the command did not finish within 1 s and was killed")
    );
    assert!(started.elapsed() < 4 * SECOND, "{:?}", started.elapsed());
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let pid = pid.trim();
    let deadline = Instant::now() + 2 * SECOND;
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "what the command started still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let log = gw.stop().await;
    assert!(
        log.contains("sms ph-11 to …67 via command: not delivered after 1 attempt(s): the command exited with status 1; stderr: modem busy: cannot send '"),
        "{log}"
    );
    assert!(log.contains("to [number] | retry later"), "{log}");
    assert!(log.contains("[code]"), "{log}");
    assert!(
        log.contains("voice ph-12 to …67 via command: not delivered"),
        "{log}"
    );
    assert_clean(&log);
}

#[test]
fn a_program_that_cannot_run_or_an_open_secret_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let refused = |body: &str| {
        let (status, log) = GatewayProcess::start(dir.path(), &sock, body).refused();
        assert!(!status.success(), "{log}");
        log
    };
    let missing = dir.path().join("no-such-program");
    let log = refused(&format!(
        "[sms]\nkind = \"command\"\nargv = [{missing:?}, \"{{to}}\", \"{{message}}\"]\n"
    ));
    assert!(
        log.contains("sms.argv[0]") && log.contains("No such file"),
        "{log}"
    );
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "not a program").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = refused(&format!(
        "[voice]\nkind = \"command\"\nargv = [{plain:?}, \"{{to}}\", \"{{message}}\"]\n"
    ));
    assert!(
        log.contains("voice.argv[0]") && log.contains("not an executable file"),
        "{log}"
    );
    let log =
        refused("[sms]\nkind = \"command\"\nargv = [\"send-sms\", \"{to}\", \"{message}\"]\n");
    assert!(
        log.contains("sms.argv[0] must be an absolute path"),
        "{log}"
    );

    let open = dir.path().join("token");
    std::fs::write(&open, "tk_OPENSECRET\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = refused(&format!(
        "[sms]\nkind = \"http\"\nurl = \"https://sms.example.org/{{to}}\"\nbody = \"{{message}}\"\n\
         content_type = \"text\"\nbearer_token_file = {open:?}\n"
    ));
    assert!(log.contains("readable by every user"), "{log}");
    assert!(!log.contains("OPENSECRET"), "{log}");
    let log = refused(
        "[sms]\nkind = \"http\"\nurl = \"https://sms.example.org/{to}\"\nbody = \"{message}\"\n\
         content_type = \"text\"\nbearer_token = \"tk_INLINE\"\n",
    );
    assert!(log.contains("sms.bearer_token_file"), "{log}");
    assert!(!log.contains("tk_INLINE"), "{log}");
}
