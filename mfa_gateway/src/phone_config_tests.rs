//! Tests of the `[sms]` and `[voice]` rules: the shapes sites use are
//! read, and each mistake is refused with the key named.

#![allow(clippy::unwrap_used, clippy::panic)]
use super::*;
use crate::config::Config;

const TOP: &str = "listen = \"127.0.0.1:8080\"\npublic_url = \"https://mfa.example.org\"\n";

fn parse(tables: &str) -> Result<Config, String> {
    Config::parse(&format!("{TOP}{tables}"), "gw.toml").map_err(|e| e.to_string())
}

fn err(tables: &str) -> String {
    let e = parse(tables).unwrap_err();
    assert!(e.starts_with("gw.toml"), "{e}");
    e
}

fn specs(tables: &str) -> (Option<PhoneSpec>, Option<PhoneSpec>) {
    parse(tables).unwrap().phone_specs().unwrap()
}

const TWILIO_SMS: &str = r#"
[sms]
kind = "http"
url = "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
method = "POST"
content_type = "form"
body = "To={to}&From=%2B15550001111&Body={message}"
basic_user = "AC123"
basic_password_file = "/etc/mfa-gateway/twilio"
"#;

#[test]
fn an_sms_only_site_needs_no_push_provider() {
    let (sms, voice) = specs(TWILIO_SMS);
    let Some(PhoneSpec::Http(h)) = sms else {
        panic!("{sms:?}")
    };
    assert!(voice.is_none());
    assert_eq!(h.method, reqwest::Method::POST);
    assert_eq!(h.content_type, ContentType::Form);
    assert_eq!(
        h.auth,
        HttpAuth::Basic {
            user: "AC123".into(),
            password_file: "/etc/mfa-gateway/twilio".into()
        }
    );
    assert_eq!(h.timeout, Duration::from_secs(5), "delivery.timeout_secs");
    let cfg = parse(TWILIO_SMS).unwrap();
    assert!(cfg.ntfy.is_none() && cfg.webhook.is_none());
    assert_eq!(cfg.issuer, "pam_mfa");
}

#[test]
fn json_get_and_command_tables_are_read() {
    let (sms, voice) = specs(
        r#"
issuer = "Physics Lab"
[sms]
kind = "http"
url = "https://sms.example.org/send?to={to}&text={message}"
method = "get"
headers = { X-Client = "pam_mfa", X-Api-Key = "{secret}" }
secret_file = "/etc/mfa-gateway/sms-key"
timeout_secs = 9
[voice]
kind = "command"
argv = ["/usr/local/bin/call", "--to", "{to}", "--say={message}"]
timeout_secs = 30
"#,
    );
    let Some(PhoneSpec::Http(h)) = sms else {
        panic!("{sms:?}")
    };
    assert_eq!(h.method, reqwest::Method::GET);
    assert_eq!(h.body, None);
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.timeout, Duration::from_secs(9));
    let Some(PhoneSpec::Command(c)) = voice else {
        panic!("{voice:?}")
    };
    assert_eq!(c.argv[3], "--say={message}");
    assert_eq!(c.timeout, Duration::from_secs(30));
    let (sms, _) = specs(
        r#"
[sms]
kind = "http"
url = "https://api.example.org/v1/messages"
content_type = "json"
body = '{"to": "{to}", "text": "{message}", "from": "Lab"}'
bearer_token_file = "/etc/mfa-gateway/sms-token"
"#,
    );
    let Some(PhoneSpec::Http(h)) = sms else {
        panic!("{sms:?}")
    };
    assert_eq!(h.content_type, ContentType::Json);
    assert_eq!(
        h.auth,
        HttpAuth::Bearer {
            token_file: "/etc/mfa-gateway/sms-token".into()
        }
    );
}

#[test]
fn the_kind_is_required_and_must_be_known() {
    let e = err("[sms]\nurl = \"https://a/{to}/{message}\"\n");
    assert!(e.contains("missing field `kind`"), "{e}");
    let e = err("[voice]\nkind = \"smtp\"\n");
    assert!(
        e.contains("voice.kind must be \"http\" or \"command\""),
        "{e}"
    );
    assert!(e.contains("smtp"), "{e}");
    let e = err("[sms]\nkind = \"http\"\nurl = \"https://a/{to}/{message}\"\nretry = 1\n");
    assert!(e.contains("unknown field `retry`"), "{e}");
}

#[test]
fn http_mistakes_name_the_key() {
    let http = |rest: &str| format!("[sms]\nkind = \"http\"\n{rest}");
    let good_url = "url = \"https://a.example/send\"\n";
    let body = "body = \"to={to}&text={message}\"\n";
    let cases: Vec<(String, &str)> = vec![
        (http(body), "sms.url is required"),
        (http("url = \"a.example/{to}/{message}\"\n"), "sms.url is not a valid URL"),
        (http("url = \"ftp://a.example/{to}/{message}\"\n"), "sms.url must be an http"),
        (http("url = \"https://{to}.example/{message}\"\n"), "only after the host"),
        (http("url = \"https://a.example/{to}?m={msg}{message}\"\n"), "sms.url has a placeholder other"),
        (
            http("url = \"https://user:pw@a.example/{to}/{message}\"\n"),
            "sms.url must not hold a user name or password",
        ),
        (http(&format!("{good_url}{body}method = \"DELETE\"\n")), "sms.method must be one of GET, POST, PUT, PATCH"),
        (http(&format!("{good_url}{body}method = \"FETCH\"\n")), "sms.method"),
        (http(&format!("{good_url}{body}method = \"GET\"\n")), "sms.body is not sent with method = \"GET\""),
        (http(&format!("{good_url}{body}content_type = \"xml\"\n")), "sms.content_type must be \"form\", \"json\" or \"text\""),
        (http(&format!("{good_url}content_type = \"json\"\n")), "sms.content_type says how sms.body is sent"),
        (
            http(&format!("{good_url}content_type = \"json\"\nbody = '{{\"to\": {{to}}, \"text\": \"{{message}}\"}}'\n")),
            "sms.body is not valid JSON",
        ),
        (http(&format!("{good_url}body = \"to={{to}}\"\n")), "{message} appears neither in sms.url nor in sms.body"),
        (http(&format!("{good_url}body = \"text={{message}}\"\n")), "{to} appears neither"),
        (http(&format!("{good_url}{body}timeout_secs = 0\n")), "sms.timeout_secs must be 1..=60"),
        (http(&format!("{good_url}{body}argv = [\"/bin/true\"]\n")), "sms.argv is only for kind = \"command\""),
        (http(&format!("{good_url}{body}basic_user = \"u\"\n")), "sms.basic_user needs sms.basic_password_file"),
        (http(&format!("{good_url}{body}basic_password_file = \"/p\"\n")), "sms.basic_password_file needs sms.basic_user"),
        (
            http(&format!("{good_url}{body}basic_user = \"a:b\"\nbasic_password_file = \"/p\"\n")),
            "sms.basic_user must be non-empty, without ':'",
        ),
        (
            http(&format!("{good_url}{body}basic_user = \"u\"\nbasic_password_file = \"/p\"\nbearer_token_file = \"/t\"\n")),
            "exclude each other",
        ),
        (http(&format!("{good_url}{body}secret_file = \"/s\"\n")), "sms.secret_file is set, but {secret} appears nowhere"),
        (http(&format!("{good_url}body = \"to={{to}}&text={{message}}&key={{secret}}\"\n")), "set sms.secret_file"),
        (http(&format!("{good_url}{body}headers = {{ \"Bad Name\" = \"x\" }}\n")), "sms.headers.Bad Name: not a valid header name"),
        (http(&format!("{good_url}{body}headers = {{ Content-Type = \"text/xml\" }}\n")), "sms.headers.Content-Type: this header is set by content_type"),
        (http(&format!("{good_url}{body}headers = {{ X-To = \"{{to}}\" }}\n")), "sms.headers.X-To: {to} and {message} go into the url or the body"),
        (http(&format!("{good_url}{body}headers = {{ X-A = \"a\\nb\" }}\n")), "sms.headers.X-A: not a valid header value"),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{text}\nwanted {want:?}, got {e}");
    }
}

#[test]
fn inline_secrets_are_refused_with_the_file_key_to_use() {
    let http = "[voice]\nkind = \"http\"\nurl = \"https://a.example/{to}/{message}\"\n";
    for (line, key, file_key) in [
        (
            "bearer_token = \"tk_SECRET1\"",
            "voice.bearer_token",
            "voice.bearer_token_file",
        ),
        (
            "basic_password = \"SECRET1\"",
            "voice.basic_password",
            "voice.basic_password_file",
        ),
        ("secret = \"SECRET1\"", "voice.secret", "voice.secret_file"),
    ] {
        let e = err(&format!("{http}{line}\n"));
        assert!(e.contains(key) && e.contains(file_key), "{e}");
        assert!(e.contains("not accepted in the configuration"), "{e}");
        assert!(!e.contains("SECRET1"), "{e}");
    }
    for header in [
        "Authorization",
        "authorization",
        "Proxy-Authorization",
        "Cookie",
    ] {
        let e = err(&format!(
            "{http}headers = {{ {header} = \"Bearer SECRET1\" }}\n"
        ));
        assert!(
            e.contains(&format!("voice.headers.{header} would hold a credential")),
            "{e}"
        );
        assert!(!e.contains("SECRET1"), "{e}");
    }
    // A custom scheme from a file is fine, but not on top of another one.
    let custom = format!(
        "{http}headers = {{ Authorization = \"AccessKey {{secret}}\" }}\nsecret_file = \"/s\"\n"
    );
    assert!(parse(&custom).is_ok());
    let e = err(&format!("{custom}bearer_token_file = \"/t\"\n"));
    assert!(e.contains("both set Authorization"), "{e}");
}

#[test]
fn command_mistakes_name_the_key() {
    let cmd = |rest: &str| format!("[sms]\nkind = \"command\"\n{rest}");
    let argv =
        "argv = [\"/usr/bin/gammu-smsd-inject\", \"TEXT\", \"{to}\", \"-text\", \"{message}\"]\n";
    assert!(parse(&cmd(argv)).is_ok());
    let cases: Vec<(String, &str)> = vec![
        (cmd(""), "sms.argv is required with kind = \"command\""),
        (
            cmd("argv = []\n"),
            "sms.argv must name a program: it is empty",
        ),
        (
            cmd("argv = [\"gammu-smsd-inject\", \"{to}\", \"{message}\"]\n"),
            "sms.argv[0] must be an absolute path",
        ),
        (
            cmd("argv = [\"./send\", \"{to}\", \"{message}\"]\n"),
            "sms.argv[0] must be an absolute path",
        ),
        (
            cmd("argv = [\"{message}\", \"{to}\"]\n"),
            "sms.argv[0] must be an absolute path",
        ),
        (
            cmd("argv = [\"/bin/send\", \"{to}\"]\n"),
            "sms.argv: no argument holds {message}",
        ),
        (
            cmd("argv = [\"/bin/send\", \"{message}\"]\n"),
            "sms.argv: no argument holds {to}",
        ),
        (
            cmd("argv = [\"/bin/send\", \"{to}\", \"{message}\", \"a\\u0000b\"]\n"),
            "sms.argv[3] holds a NUL",
        ),
        (
            cmd("argv = [\"/bin/send\", \"{to}\", \"{message}\", \"{secret}\"]\n"),
            "sms.argv[3]: {secret} is for kind = \"http\"",
        ),
        (
            cmd(&format!("{argv}url = \"https://a.example/\"\n")),
            "sms.url is only for kind = \"http\"",
        ),
        (
            cmd(&format!("{argv}bearer_token_file = \"/t\"\n")),
            "sms.bearer_token_file is only for kind = \"http\"",
        ),
        (
            cmd(&format!("{argv}timeout_secs = 61\n")),
            "sms.timeout_secs must be 1..=60",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{text}\nwanted {want:?}, got {e}");
    }
}

#[test]
fn the_issuer_is_short_and_plain() {
    assert_eq!(
        parse(&format!("issuer = \"Université (Lab-2)\"\n{TWILIO_SMS}"))
            .unwrap()
            .issuer,
        "Université (Lab-2)"
    );
    for bad in ["", "  ", "<b>Lab</b>", "A&B", "x{to}", &"L".repeat(41)] {
        let e = err(&format!("issuer = \"{bad}\"\n{TWILIO_SMS}"));
        assert!(e.contains("issuer must be 1 to 40"), "{bad}: {e}");
    }
}
