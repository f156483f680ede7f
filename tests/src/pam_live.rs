//! A login through real libpam that the test answers as it goes:
//! `pamdrive --stdin` in the background, its transcript read line by line,
//! so a test can read the number a prompt shows, approve it in a browser,
//! and only then press Enter, or hang up in the middle.

use crate::pam::{PamRun, Stack};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct LiveLogin {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Every line seen so far.
    pub transcript: Vec<String>,
}

impl LiveLogin {
    /// Start authenticating `user` through `stack`.
    pub fn start(stack: &Stack, user: &str, rhost: Option<&str>) -> Result<LiveLogin> {
        let mut cmd = stack.command(user, &[], rhost, &[])?;
        cmd.arg("--stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().context("starting pamdrive")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(LiveLogin {
            child,
            stdin,
            lines,
            transcript: Vec::new(),
        })
    }

    /// Wait for a line containing `needle`; return it.
    pub fn expect(&mut self, needle: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(_) => bail!(
                    "no line with {needle:?} within {within:?}; saw:\n{}",
                    self.transcript.join("\n")
                ),
            }
        }
    }

    /// Answer the current prompt.
    pub fn answer(&mut self, text: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("stdin closed"))?;
        writeln!(stdin, "{text}")?;
        stdin.flush()?;
        Ok(())
    }

    /// The number a push prompt shows (`... number NN, ...`).
    pub fn push_number(&mut self, within: Duration) -> Result<String> {
        let line = self.expect("number ", within)?;
        number_in(&line).ok_or_else(|| anyhow!("no number in {line:?}"))
    }

    /// Hang up as sshd does when the client goes away: kill the process.
    pub fn hang_up(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Wait for the end and collect the result.
    pub fn finish(mut self, within: Duration) -> Result<PamRun> {
        drop(self.stdin.take());
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!(
                    "the login did not end within {within:?}: {:?}",
                    self.transcript
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.transcript.push(line);
        }
        Ok(PamRun {
            rc: status
                .code()
                .ok_or_else(|| anyhow!("pamdrive was killed"))?,
            transcript: self.transcript.join("\n"),
        })
    }
}

impl Drop for LiveLogin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The digits after "number " in a prompt.
pub fn number_in(line: &str) -> Option<String> {
    let rest = &line[line.find("number ")? + "number ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}
