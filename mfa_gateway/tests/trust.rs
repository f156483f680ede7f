//! What the gateway trusts: only a mfad socket served by root (an
//! impostor gets not one byte), and HTTPS with the configured certificate
//! and a key file no other user can read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mfa_gateway::config::Config;
use mfa_gateway::mfad::{Mfad, MfadError};
use mfa_gateway::Gateway;
use mfa_proto::{Request, Sensitive};
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Listens as uid 65534, then prints how many bytes the first client sent.
const IMPOSTOR: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(4)
print("ready", flush=True)
s.settimeout(10)
for _ in range(2):
    c, _ = s.accept(); c.settimeout(2)
    try:
        print(len(c.recv(100)), flush=True)
    except socket.timeout:
        print("silent", flush=True)
"#;

#[test]
fn a_socket_not_served_by_root_is_refused_before_a_byte_is_sent() {
    if !running_as_root() || !Path::new("/usr/bin/python3").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let sock = dir.path().join("mfad.sock");
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(IMPOSTOR)
        .arg(&sock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mfad = Mfad::new(&sock);
    let view = Request::GatewayView {
        token: Sensitive::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"),
    };
    let err = rt.block_on(mfad.call(&view)).map(|_| ()).unwrap_err();
    assert!(
        matches!(&err, MfadError::UntrustedPeer { uid: 65534, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not root"), "{err}");
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "0",
        "the impostor got bytes"
    );
    let err = rt.block_on(mfad.open()).map(|_| ()).unwrap_err();
    assert!(matches!(err, MfadError::UntrustedPeer { .. }), "{err}");
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "0",
        "the impostor got bytes"
    );
    let _ = child.wait();
}

/// A test CA and a certificate for 127.0.0.1 that it signed, made by
/// Debian's openssl: (certificate, key, CA certificate).
fn make_cert(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let p = |name: &str| dir.join(name);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    std::fs::write(
        p("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let run = |args: Vec<std::ffi::OsString>| {
        Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
    let path = |name: &str| p(name).into_os_string();
    let mut ca = os(&[
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=mfa-gateway test CA",
    ]);
    ca.extend(os(&ec));
    ca.extend([
        "-keyout".into(),
        path("ca.key"),
        "-out".into(),
        path("ca.pem"),
    ]);
    let mut csr = os(&["req", "-subj", "/CN=127.0.0.1"]);
    csr.extend(os(&ec));
    csr.extend([
        "-keyout".into(),
        path("key.pem"),
        "-out".into(),
        path("leaf.csr"),
    ]);
    let mut sign = os(&["x509", "-req", "-days", "2", "-CAcreateserial"]);
    sign.extend([
        "-in".into(),
        path("leaf.csr"),
        "-CA".into(),
        path("ca.pem"),
        "-CAkey".into(),
        path("ca.key"),
        "-extfile".into(),
        path("ext"),
        "-out".into(),
        path("cert.pem"),
    ]);
    if !(run(ca) && run(csr) && run(sign)) {
        eprintln!("skipped: openssl cannot make a test certificate");
        return None;
    }
    std::fs::set_permissions(p("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    Some((p("cert.pem"), p("key.pem"), p("ca.pem")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_over_https_with_the_configured_certificate() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key, ca)) = make_cert(dir.path()) else {
        return;
    };
    let mfad = FakeMfad::start(dir.path());
    let token = secret_file(dir.path(), "t", "tk_x");
    let body = format!(
        "tls_cert = {cert:?}\ntls_key = {key:?}\n[ntfy]\nurl = \"http://127.0.0.1:9\"\n\
         token_file = {token:?}\n"
    );
    let gw = start_gateway(&mfad.path, &body).await;
    let https = gw.base.replace("http://", "https://");
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap()])
        .build()
        .unwrap();
    let r = trusting
        .get(format!("{https}/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let r = trusting
        .get(format!("{https}/p/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Plain HTTP on the TLS port gets nothing served.
    assert!(client()
        .get(format!("{}/style.css", gw.base))
        .send()
        .await
        .is_err());
    gw.stop().await;
}

#[test]
fn a_key_file_every_user_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key, _)) = make_cert(dir.path()) else {
        return;
    };
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = format!(
        "listen = \"0.0.0.0:8443\"\npublic_url = \"https://mfa.example.org\"\n\
         tls_cert = {cert:?}\ntls_key = {key:?}\n[ntfy]\nurl = \"https://ntfy.sh\"\n"
    );
    let cfg = Config::parse(&text, "t").unwrap();
    let err = Gateway::prepare(&cfg).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("readable by every user"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Gateway::prepare(&cfg).is_ok());
    std::fs::write(&cert, "not a certificate").unwrap();
    let err = Gateway::prepare(&cfg).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("tls_cert"), "{err}");
}
