//! A real headless Chromium driven through WebDriver (Debian's `chromium`
//! and `chromium-driver`, installed by scripts/deps.sh), with a blocking API
//! for plain `#[test]` functions: the approval page of the push gateway is
//! tested the way a person's browser would see it.
//!
//! The client is `fantoccini` (W3C WebDriver, async on tokio) on a
//! current-thread runtime owned by the `Browser`. chromedriver listens on a
//! free port on 127.0.0.1 and [::1] only. It and the browser processes are
//! in a process group of their own (the crash handler, which leaves it,
//! names the temporary profile folder); Drop ends the session, kills them
//! all, reaps them (the test process becomes a child subreaper, so no
//! zombie stays behind) and removes the profile, also while a failing test
//! unwinds. HOME and XDG_* point into the profile: nothing is written to
//! the real home folder. Self-signed TLS certificates are accepted.
//!
//! Cost, measured on this machine kind (2 cores, chromedriver and Chromium
//! 156, debug build, 5 runs of harness_web's browser test): `start` 0.6–1.7 s
//! (median 0.8 s; chromedriver itself is listening after ~20 ms, the rest is
//! the new session and browser), the first `goto` of a loopback page
//! 0.5–1.1 s (the first renderer starts), a later fill + `click_submit` with
//! its page load 0.2–0.3 s, Drop 0.25–0.45 s. A whole one-browser test with
//! three page loads: 2.7–4.8 s. So start one Browser per test, not per page.

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one WebDriver command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A headless Chromium session; chromedriver and the browser die on drop.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    port: u16,
    // Declared after `driver`: removed only once the processes are gone.
    profile: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Browser {
    /// Start chromedriver and a headless browser with the default flags.
    pub fn start() -> Result<Browser> {
        Browser::start_with(&[])
    }

    /// Start with extra Chromium command-line flags (added last, so they
    /// override the defaults, e.g. `--host-resolver-rules=MAP gw.test 127.0.0.1`).
    pub fn start_with(extra_args: &[&str]) -> Result<Browser> {
        let driver_bin =
            which("chromedriver").context("chromedriver is not installed (run scripts/deps.sh)")?;
        // Debian's /usr/bin/chromium is a shell wrapper; run the binary.
        let browser_bin = Some(PathBuf::from("/usr/lib/chromium/chromium"))
            .filter(|p| p.exists())
            .or_else(|| which("chromium"))
            .context("chromium is not installed (run scripts/deps.sh)")?;
        let profile = tempfile::Builder::new().prefix("mfa-chromium-").tempdir()?;
        let port = free_port()?;
        // Orphaned browser processes (zygotes, the crash handler) are
        // reparented to this process, and Drop reaps them.
        // SAFETY: prctl(2) with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            // Nothing lands in the real home folder, and the crash handler
            // (which leaves the process group) names the profile folder.
            .env("HOME", profile.path())
            .env("XDG_CONFIG_HOME", profile.path().join("config"))
            .env("XDG_CACHE_HOME", profile.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting chromedriver")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // From here on, Drop cleans up whatever fails below.
        let mut b = Browser {
            client: None,
            driver,
            port,
            profile,
            rt,
        };
        b.wait_driver_ready()?;
        let data_dir = b.profile.path().join("profile");
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-pings",
            // Only loopback names and addresses resolve, so nothing leaves
            // the machine; a test needing another name (or a netns host)
            // passes its own rules to `start_with` (the last flag wins).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE ::1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", data_dir.display()));
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let caps = json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": browser_bin,
                "args": args,
            },
        });
        let Value::Object(caps) = caps else {
            bail!("capabilities are not an object");
        };
        let url = format!("http://127.0.0.1:{port}");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = b.rt.block_on(async {
            tokio::time::timeout(
                COMMAND_TIMEOUT,
                ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&url),
            )
            .await
        });
        let client = client
            .map_err(|_| anyhow!("new WebDriver session timed out"))?
            .map_err(|e| anyhow!("new WebDriver session: {e}; {}", b.driver_log_tail()))?;
        b.client = Some(client);
        Ok(b)
    }

    fn wait_driver_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.driver.try_wait()? {
                bail!("chromedriver exited: {status}; {}", self.driver_log_tail());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!("chromedriver not ready in 20 s; {}", self.driver_log_tail())
    }

    fn driver_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.profile.path().join("chromedriver.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        format!("chromedriver log tail:\n{}", tail.join("\n"))
    }

    fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T> {
        self.rt
            .block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, fut).await })
            .map_err(|_| anyhow!("{what}: timed out after {COMMAND_TIMEOUT:?}"))?
            .map_err(|e| anyhow!("{what}: {e}"))
    }

    fn client(&self) -> Result<&Client> {
        self.client.as_ref().ok_or_else(|| anyhow!("no session"))
    }

    /// Load `url` and wait for the page.
    pub fn goto(&self, url: &str) -> Result<()> {
        let c = self.client()?;
        self.run(&format!("goto {url}"), c.goto(url))
    }

    /// The page's visible body text.
    pub fn page_text(&self) -> Result<String> {
        let c = self.client()?;
        self.run("page text", async {
            c.find(Locator::Css("body")).await?.text().await
        })
    }

    /// The page's HTML as the browser holds it now.
    pub fn source(&self) -> Result<String> {
        let c = self.client()?;
        self.run("page source", c.source())
    }

    /// The current URL (after redirects).
    pub fn current_url(&self) -> Result<String> {
        let c = self.client()?;
        Ok(self.run("current url", c.current_url())?.to_string())
    }

    /// The HTTP status of the current document, from the Navigation Timing
    /// API (`responseStatus`); None when the browser does not know it.
    pub fn status_hint(&self) -> Result<Option<u16>> {
        let v = self.execute(
            "const n = performance.getEntriesByType('navigation')[0];\
             return n && n.responseStatus ? n.responseStatus : null;",
        )?;
        Ok(v.as_u64().and_then(|s| u16::try_from(s).ok()))
    }

    /// Run JavaScript in the page and return its value.
    pub fn execute(&self, script: &str) -> Result<Value> {
        let c = self.client()?;
        self.run("execute script", c.execute(script, vec![]))
    }

    /// Type `value` into the (first) input named `name`, replacing its text.
    pub fn fill(&self, name: &str, value: &str) -> Result<()> {
        let c = self.client()?;
        let css = format!("[name=\"{}\"]", css_escape(name));
        self.run(&format!("fill {name}"), async {
            let e = c.find(Locator::Css(&css)).await?;
            e.clear().await?;
            e.send_keys(value).await
        })
    }

    /// Remove every form field named `name` from the page (to send a form
    /// without it, e.g. without its CSRF token); returns how many went.
    pub fn remove_field(&self, name: &str) -> Result<u64> {
        let c = self.client()?;
        let script = "const els = document.getElementsByName(arguments[0]);\
                      const n = els.length;\
                      Array.from(els).forEach(e => e.remove());\
                      return n;";
        let v = self.run(
            &format!("remove field {name}"),
            c.execute(script, vec![json!(name)]),
        )?;
        Ok(v.as_u64().unwrap_or(0))
    }

    /// Click the submit button `button[name=NAME][value=VALUE]` (or such an
    /// `input[type=submit]`) and wait until the next page has loaded.
    pub fn click_submit(&self, name: &str, value: &str) -> Result<()> {
        let c = self.client()?;
        let (n, v) = (css_escape(name), css_escape(value));
        let css = format!(
            "button[name=\"{n}\"][value=\"{v}\"], input[type=submit][name=\"{n}\"][value=\"{v}\"]"
        );
        // A marker on the old page's window: gone once the new page loaded.
        self.execute("window.__mfaOldPage = true;")?;
        self.run(&format!("click {name}={value}"), async {
            c.find(Locator::Css(&css)).await?.click().await
        })?;
        self.wait_new_page()
    }

    fn wait_new_page(&self) -> Result<()> {
        let c = self.client()?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let probe = "return !window.__mfaOldPage && document.readyState === 'complete';";
        while Instant::now() < deadline {
            // Errors while the page is unloading just mean "not yet".
            if let Ok(Value::Bool(true)) = self.run("probe", c.execute(probe, vec![])) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("no new page loaded within {COMMAND_TIMEOUT:?}")
    }

    /// Save a PNG screenshot (to look at a failing page).
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let c = self.client()?;
        let png = self.run("screenshot", c.screenshot())?;
        std::fs::write(path, png)?;
        Ok(())
    }

    /// The temporary profile folder: every browser process of this session
    /// names it on its command line (for `pgrep -f` after drop).
    pub fn profile_dir(&self) -> PathBuf {
        self.profile.path().to_path_buf()
    }

    /// The chromedriver process id.
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pgid = self.driver.id() as libc::pid_t;
        // Listed while all still run: an exited one no longer names the
        // profile folder.
        let ours = our_pids(pgid, self.profile.path());
        if let Some(c) = self.client.take() {
            // Ends the session; chromedriver quits the browser.
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
        // SAFETY: kill(2) on the process group this Browser created, and on
        // processes started by it (the crash handler leaves the group but
        // names our profile folder).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
            for &pid in &ours {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let _ = self.driver.wait();
        // Reap the orphans that came to this process (a subreaper), so no
        // zombie named chromium stays behind either.
        // The list is read again each round: a process the browser forked
        // while its session closed is in the group but not in `ours`.
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut left = ours;
        while !left.is_empty() && Instant::now() < deadline {
            for &pid in &left {
                let mut status = 0;
                // SAFETY: kill(2) and waitpid(2) on one of this Browser's
                // processes (see above); ECHILD if it is not our child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, libc::WNOHANG);
                }
            }
            left = our_pids(pgid, self.profile.path());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Processes in process group `pgid` or naming `profile` on their
/// command line.
fn our_pids(pgid: libc::pid_t, profile: &Path) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| in_group(*pid, pgid) || names(*pid, profile))
        .collect()
}

fn in_group(pid: libc::pid_t, pgid: libc::pid_t) -> bool {
    // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold ')'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.get(s.rfind(')')? + 1..)?.to_string();
            rest.split_whitespace().nth(2)?.parse::<libc::pid_t>().ok()
        })
        == Some(pgid)
}

/// Whether process `pid`'s command line contains `path`.
fn names(pid: libc::pid_t, path: &Path) -> bool {
    let needle = path.to_string_lossy();
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(needle.as_ref()))
        .unwrap_or(false)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn css_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
