//! Tests of the configuration rules: each mistake is refused with a
//! message that names what to change.

#![allow(clippy::unwrap_used, clippy::panic)]
use super::*;

const MINIMAL: &str = r#"
listen = "127.0.0.1:8080"
public_url = "https://mfa.example.org/"
[ntfy]
url = "https://ntfy.example.org"
"#;

fn err(text: &str) -> String {
    Config::parse(text, "gw.toml").unwrap_err().to_string()
}

#[test]
fn a_minimal_config_gets_the_defaults() {
    let cfg = Config::parse(MINIMAL, "gw.toml").unwrap();
    assert_eq!(cfg.socket, PathBuf::from("/run/mfad.sock"));
    assert_eq!(
        cfg.listen_addr().unwrap(),
        "127.0.0.1:8080".parse().unwrap()
    );
    assert_eq!(cfg.link_base(), "https://mfa.example.org");
    assert_eq!(cfg.ntfy_public_url(), Some("https://ntfy.example.org"));
    let ntfy = cfg.ntfy.as_ref().unwrap();
    assert_eq!((ntfy.priority, ntfy.token_file.as_ref()), (4, None));
    assert!(cfg.webhook.is_none() && cfg.tls().is_none());
    assert_eq!(cfg.delivery, DeliveryConfig::default());
    assert_eq!((cfg.delivery.timeout_secs, cfg.delivery.retries), (5, 2));
}

#[test]
fn the_shipped_example_parses() {
    let cfg = Config::parse(EXAMPLE_TOML, "example").unwrap();
    assert!(cfg.ntfy.is_some());
    assert!(cfg.sms.is_none() && cfg.voice.is_none() && cfg.issuer == "pam_mfa");
}

/// The `[sms]` and `[voice]` examples of the shipped file, uncommented.
fn phone_examples() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in EXAMPLE_TOML.lines().chain([""]) {
        if line == "# [sms]" || line == "# [voice]" {
            current = Some(String::new());
        }
        match (&mut current, line.strip_prefix("# ")) {
            (Some(block), Some(uncommented)) => {
                block.push_str(uncommented);
                block.push('\n');
            }
            (Some(_), None) => blocks.extend(current.take()),
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn each_phone_example_of_the_shipped_file_is_valid() {
    let blocks = phone_examples();
    assert_eq!(blocks.len(), 5, "{blocks:?}");
    for block in blocks {
        let cfg = Config::parse(&format!("{MINIMAL}{block}"), "example")
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
        let (sms, voice) = cfg.phone_specs().unwrap();
        assert!(sms.is_some() != voice.is_some(), "{block}");
    }
    let with_issuer = EXAMPLE_TOML.replace("# issuer = \"pam_mfa\"", "issuer = \"Lab\"");
    assert_eq!(
        Config::parse(&with_issuer, "example").unwrap().issuer,
        "Lab"
    );
}

#[test]
fn a_full_config_reads_every_key() {
    let cfg = Config::parse(
        r#"
socket = "/tmp/m.sock"
listen = "0.0.0.0:8443"
public_url = "https://mfa.example.org"
tls_cert = "/etc/gw/cert.pem"
tls_key = "/etc/gw/key.pem"
[ntfy]
url = "http://10.0.0.5:2586"
public_url = "https://ntfy.example.org"
token_file = "/etc/gw/ntfy-token"
priority = 5
[webhook]
url = "https://hooks.example.org/x?key=1"
secret_file = "/etc/gw/whsec"
[delivery]
timeout_secs = 3
retries = 0
"#,
        "gw.toml",
    )
    .unwrap();
    assert_eq!(cfg.socket, PathBuf::from("/tmp/m.sock"));
    assert!(cfg.tls().is_some());
    assert_eq!(cfg.ntfy_public_url(), Some("https://ntfy.example.org"));
    assert_eq!(cfg.ntfy.as_ref().unwrap().priority, 5);
    assert_eq!(
        cfg.webhook.as_ref().unwrap().secret_file,
        PathBuf::from("/etc/gw/whsec")
    );
    assert_eq!((cfg.delivery.timeout_secs, cfg.delivery.retries), (3, 0));
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let e = err(&format!("bogus_key = 1\n{MINIMAL}"));
    assert!(e.contains("unknown field `bogus_key`"), "{e}");
    assert!(e.contains("gw.toml"), "{e}");
    let e = err(&format!("{MINIMAL}topic = \"t\"\n"));
    assert!(e.contains("unknown field `topic`"), "{e}");
    let e = err(&format!("{MINIMAL}[delivery]\nretry = 1\n"));
    assert!(e.contains("unknown field `retry`"), "{e}");
    let e = err(&format!("{MINIMAL}[webhooks]\nurl = \"https://x\"\n"));
    assert!(e.contains("unknown field `webhooks`"), "{e}");
}

#[test]
fn missing_required_keys_are_named() {
    let e = err("public_url = \"https://a\"\n[ntfy]\nurl = \"https://b\"\n");
    assert!(e.contains("missing field `listen`"), "{e}");
    let e = err("listen = \"127.0.0.1:1\"\n[ntfy]\nurl = \"https://b\"\n");
    assert!(e.contains("missing field `public_url`"), "{e}");
    let e = err(&MINIMAL.replace("[ntfy]", "[webhook]"));
    assert!(e.contains("missing field `secret_file`"), "{e}");
}

#[test]
fn at_least_one_provider_is_required() {
    let e = err("listen = \"127.0.0.1:8080\"\npublic_url = \"https://a\"\n");
    assert!(
        e.contains("at least one of [ntfy], [webhook] (pushes), [sms] and [voice] (codes)"),
        "{e}"
    );
}

#[test]
fn plain_http_is_allowed_only_on_loopback() {
    for ok in [
        "127.0.0.1:80",
        "127.9.9.9:8080",
        "[::1]:8080",
        "localhost:8080",
        "LOCALHOST:1",
    ] {
        let text = MINIMAL.replace("127.0.0.1:8080", ok);
        assert!(Config::parse(&text, "gw.toml").is_ok(), "{ok}");
    }
    assert_eq!(
        Config::parse(&MINIMAL.replace("127.0.0.1:8080", "localhost:9"), "x")
            .unwrap()
            .listen_addr()
            .unwrap(),
        "127.0.0.1:9".parse().unwrap()
    );
    for bad in [
        "0.0.0.0:8080",
        "192.0.2.1:80",
        "[::]:8080",
        "[2001:db8::1]:443",
    ] {
        let e = err(&MINIMAL.replace("127.0.0.1:8080", bad));
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(e.contains("tls_cert and tls_key"), "{e}");
        assert!(e.contains("reverse proxy"), "{e}");
    }
    let with_tls = MINIMAL.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"",
    );
    assert!(Config::parse(&with_tls, "gw.toml").is_ok());
}

#[test]
fn tls_cert_and_key_go_together() {
    for one in ["tls_cert = \"c.pem\"", "tls_key = \"k.pem\""] {
        let e = err(&format!("{one}\n{MINIMAL}"));
        assert!(e.contains("set both or neither"), "{e}");
    }
}

#[test]
fn listen_must_be_an_address_and_port() {
    for bad in [
        "8080",
        "example.org:80",
        "127.0.0.1",
        "127.0.0.1:http",
        "localhost:99999",
    ] {
        let e = err(&MINIMAL.replace("127.0.0.1:8080", bad));
        assert!(e.contains("is not HOST:PORT"), "{bad}: {e}");
    }
}

#[test]
fn urls_and_numbers_are_checked() {
    let e = err(&MINIMAL.replace("https://mfa.example.org/", "mfa.example.org"));
    assert!(e.contains("public_url is not a valid URL"), "{e}");
    let e = err(&MINIMAL.replace("https://mfa.example.org/", "ftp://mfa.example.org"));
    assert!(e.contains("public_url must be an http"), "{e}");
    let e = err(&MINIMAL.replace("https://mfa.example.org/", "https://mfa.example.org/?a=1"));
    assert!(e.contains("must not have a query"), "{e}");
    let e = err(&MINIMAL.replace("https://ntfy.example.org", "ntfy"));
    assert!(e.contains("ntfy.url"), "{e}");
    let e = err(&format!("{MINIMAL}priority = 6\n"));
    assert!(e.contains("ntfy.priority must be 1..=5"), "{e}");
    let e = err(&format!("{MINIMAL}[delivery]\ntimeout_secs = 0\n"));
    assert!(e.contains("delivery.timeout_secs"), "{e}");
    let e = err(&format!("{MINIMAL}[delivery]\nretries = 9\n"));
    assert!(e.contains("delivery.retries"), "{e}");
    let secret_url = "https://hooks.example.org/T0P-SECRET";
    let e = err(&format!(
        "{MINIMAL}[webhook]\nurl = \"{}\"\nsecret_file = \"s\"\n",
        secret_url.replace("https", "gopher")
    ));
    assert!(
        e.contains("webhook.url") && !e.contains("T0P-SECRET"),
        "{e}"
    );
}
