//! The gateway's test bench, all in one process: a fake mfad on a Unix
//! socket in a temporary folder (it runs as the test's uid, so the root
//! check passes only when the tests run as root, as CI does), a loopback
//! stand-in for an ntfy server, a webhook receiver or an SMS or voice API,
//! and the gateway itself, started from a TOML text like the binary (or
//! as the binary, when its log is looked at).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use mfa_gateway::config::Config;
use mfa_gateway::Gateway;
use mfa_proto::codec::tokio::{read_frame, write_frame};
use mfa_proto::phone::PhoneDelivery;
use mfa_proto::push::{Decided, Decision, Delivery, PushView};
use mfa_proto::{ErrorCode, Request, Response, PROTOCOL_VERSION};
use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::{oneshot, watch, Notify};

/// Whether the tests can play mfad: the gateway trusts only root's socket.
pub fn running_as_root() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        eprintln!("skipped: the gateway trusts only a socket served by root; run as root");
    }
    root
}

/// A pending push the fake knows: what the page shows and the number.
struct Pending {
    view: PushView,
    number: String,
}

#[derive(Default)]
struct FakeState {
    seen: Mutex<Vec<Request>>,
    /// Answers to polls: a `Delivery` or a `PhoneDelivery`.
    queue: Mutex<VecDeque<Response>>,
    queued: Notify,
    pending: Mutex<HashMap<String, Pending>>,
    /// While true, views are held unanswered.
    stall: Option<watch::Sender<bool>>,
}

/// mfad as the gateway sees it: answers hello, hands out queued
/// deliveries, shows and decides the pushes it was given.
pub struct FakeMfad {
    pub path: PathBuf,
    state: Arc<FakeState>,
}

impl FakeMfad {
    pub fn start(dir: &Path) -> FakeMfad {
        let path = dir.join("mfad.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let state = Arc::new(FakeState {
            stall: Some(watch::channel(false).0),
            ..FakeState::default()
        });
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve_conn(conn, st.clone()));
            }
        });
        FakeMfad { path, state }
    }

    pub fn queue(&self, d: Delivery) {
        self.queue_answer(Response::Delivery(Box::new(d)));
    }

    /// Hand the gateway a code to send, as mfad will for `sms` and `call`.
    pub fn queue_phone(&self, d: PhoneDelivery) {
        self.queue_answer(Response::PhoneDelivery(Box::new(d)));
    }

    fn queue_answer(&self, answer: Response) {
        self.state.queue.lock().unwrap().push_back(answer);
        self.state.queued.notify_one();
    }

    pub fn add_push(&self, token: &str, view: PushView, number: &str) {
        self.state.pending.lock().unwrap().insert(
            token.into(),
            Pending {
                view,
                number: number.into(),
            },
        );
    }

    /// Hold every view unanswered until [`FakeMfad::release`].
    pub fn stall_views(&self) {
        if let Some(s) = &self.state.stall {
            s.send_replace(true);
        }
    }

    pub fn release(&self) {
        if let Some(s) = &self.state.stall {
            s.send_replace(false);
        }
    }

    pub fn seen(&self) -> Vec<Request> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The requests a page view or decision makes (not hello, poll, report).
    pub fn page_requests(&self) -> Vec<Request> {
        self.seen()
            .into_iter()
            .filter(|r| {
                matches!(
                    r,
                    Request::GatewayView { .. } | Request::GatewayDecide { .. }
                )
            })
            .collect()
    }

    /// Wait until a request matching `pred` has come, up to `within`.
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&Request) -> bool) -> Request {
        let deadline = Instant::now() + within;
        loop {
            if let Some(r) = self.seen().into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "mfad never got the request; it saw {:?}",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve_conn(mut conn: UnixStream, st: Arc<FakeState>) {
    loop {
        let Ok(req) = read_frame::<_, Request>(&mut conn).await else {
            return;
        };
        st.seen.lock().unwrap().push(req.clone());
        let resp = answer(req, &st).await;
        if write_frame(&mut conn, &resp).await.is_err() {
            return;
        }
    }
}

async fn answer(req: Request, st: &FakeState) -> Response {
    let gone = || {
        Response::error(
            ErrorCode::NotFound,
            "this link has expired or was already used",
        )
    };
    match req {
        Request::Hello { .. } => Response::Hello {
            version: PROTOCOL_VERSION,
            server: "fake-mfad".into(),
        },
        Request::GatewayPoll { .. } => {
            // Held briefly, not the 25 s asked for, so tests stay short.
            for _ in 0..2 {
                if let Some(answer) = st.queue.lock().unwrap().pop_front() {
                    return answer;
                }
                let _ =
                    tokio::time::timeout(Duration::from_millis(200), st.queued.notified()).await;
            }
            Response::Idle
        }
        Request::GatewayReport { .. } => Response::Done,
        Request::GatewayView { token } => {
            if let Some(s) = &st.stall {
                let _ = s.subscribe().wait_for(|stalled| !stalled).await;
            }
            match st.pending.lock().unwrap().get(token.expose()) {
                Some(p) => Response::PushPage(Box::new(p.view.clone())),
                None => gone(),
            }
        }
        Request::GatewayDecide {
            token,
            number,
            decision,
        } => match st.pending.lock().unwrap().remove(token.expose()) {
            Some(p) => Response::PushDecided {
                outcome: match decision {
                    Decision::Approve if number.expose() == p.number => Decided::Approved,
                    Decision::Approve => Decided::WrongNumber,
                    Decision::Deny => Decided::Denied,
                    Decision::Report => Decided::Reported,
                },
            },
            None => gone(),
        },
        _ => Response::error(ErrorCode::BadRequest, "not a gateway request"),
    }
}

/// One request an HTTP stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

struct StandInState {
    got: Mutex<Vec<Received>>,
    fail_first: AtomicUsize,
    fail_with: StatusCode,
}

/// A loopback HTTP server standing in for ntfy, a webhook receiver or an
/// SMS or voice API: it records every request and answers 200, or
/// `fail_with` (503 unless told) to the first `fail_first`.
pub struct StandIn {
    pub url: String,
    state: Arc<StandInState>,
    _stop: watch::Sender<bool>,
}

impl StandIn {
    pub async fn start(fail_first: usize) -> StandIn {
        StandIn::failing(503, fail_first).await
    }

    /// Answers `status` to the first `count` requests (`usize::MAX`: all).
    pub async fn failing(status: u16, count: usize) -> StandIn {
        let state = Arc::new(StandInState {
            got: Mutex::default(),
            fail_first: AtomicUsize::new(count),
            fail_with: StatusCode::from_u16(status).unwrap(),
        });
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(mfa_gateway::server::serve(listener, None, app, stopped));
        StandIn {
            url,
            state,
            _stop: stop,
        }
    }

    pub fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        while self.got().len() < count {
            assert!(Instant::now() < deadline, "got only {:?}", self.got());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got()
    }
}

async fn record(
    State(st): State<Arc<StandInState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    st.got.lock().unwrap().push(Received {
        method,
        uri,
        headers,
        body,
    });
    let fail = st
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        (st.fail_with, "busy")
    } else {
        (StatusCode::OK, "{}")
    }
}

/// A gateway running in this process.
pub struct Running {
    /// `http://127.0.0.1:PORT`, also its `public_url`.
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// A private secret file in `dir`.
pub fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// Start a gateway for mfad at `socket` whose config is `body` (the
/// provider tables and whatever else) after `socket`, `listen` and
/// `public_url`, which are filled in here.
pub async fn start_gateway(socket: &Path, body: &str) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let text = format!(
        "socket = {socket:?}\nlisten = {listen:?}\npublic_url = \"{base}/\"\n{body}",
        listen = listener.local_addr().unwrap().to_string(),
    );
    let cfg = Config::parse(&text, "test config").unwrap();
    let gateway = Gateway::prepare(&cfg).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(listener, async {
        let _ = stopped.await;
    }));
    Running {
        base,
        stop: Some(stop),
        task,
    }
}

impl Running {
    /// Stop it as SIGTERM would, and check that it stops soon.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(8), &mut self.task)
            .await
            .expect("the gateway did not stop in time")
            .unwrap();
    }
}

/// An HTTP client that never uses a proxy and never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The value of the hidden `csrf` field in a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("no csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// POST `pairs` as a urlencoded form, as a browser submits one.
pub async fn post_form(
    http: &reqwest::Client,
    url: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The gateway as a process (the built binary), its stderr collected, so
/// a test can read its log as an operator would.
pub struct GatewayProcess {
    child: Option<std::process::Child>,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl GatewayProcess {
    /// Run `mfa-gateway` for mfad at `socket` with `body` after the
    /// `socket`, `listen` and `public_url` lines; the config file goes in
    /// `dir`.
    pub fn start(dir: &Path, socket: &Path, body: &str) -> GatewayProcess {
        use std::io::BufRead;
        let cfg = dir.join("gateway.toml");
        std::fs::write(
            &cfg,
            format!(
                "socket = {socket:?}\nlisten = \"127.0.0.1:0\"\n\
                 public_url = \"http://127.0.0.1\"\n{body}"
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-gateway"))
            .arg("--config")
            .arg(&cfg)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        GatewayProcess {
            child: Some(child),
            log,
            reader: Some(reader),
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait until the log holds `text`, up to `within`.
    pub async fn wait_log(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(Instant::now() < deadline, "no {text:?} in the log:\n{log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then the whole log once it has exited (0, checked).
    pub async fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(8);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not stop in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let log = self.log();
        assert!(status.success(), "exit status {status}; log:\n{log}");
        log
    }

    /// Wait for it to exit by itself (a refused start): status and log.
    pub fn refused(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the gateway started: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        (status, self.log())
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
