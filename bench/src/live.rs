//! A login through real libpam, run on a thread of its own, that the
//! harness answers as it goes: every prompt comes out as an event with the
//! instant it was shown, the harness sends each answer when it chooses
//! (after approving a push, say), and the end comes out with the instant
//! `pam_authenticate` returned, taken on that thread before `pam_end`.
//! This is `pamdrive --stdin` in process, so the clock is the same on
//! both sides and no pipe or process exit sits inside a measurement.

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::{c_int, c_void, CStr, CString};
use std::path::Path;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mfa_tests::libpam::{
    conversation, pam_authenticate, pam_end, pam_start_confdir, Answerer, PamConv,
    PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_SUCCESS,
};

/// How long a prompt waits for the harness's answer before the
/// conversation gives up (PAM_CONV_ERR).
const ANSWER_WAIT: Duration = Duration::from_secs(60);

pub enum Event {
    /// `pam_authenticate` is about to be called.
    Started(Instant),
    /// A prompt, and when the conversation function got it.
    Prompt(String, Instant),
    /// `pam_authenticate` returned this code at this instant.
    Done(i32, Instant),
}

struct Relay {
    events: Sender<Event>,
    answers: Receiver<String>,
}

impl Answerer for Relay {
    fn answer(&mut self, style: c_int, text: &CStr) -> Option<CString> {
        let at = Instant::now();
        if style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON {
            return None;
        }
        let text = text.to_string_lossy().into_owned();
        self.events.send(Event::Prompt(text, at)).ok()?;
        let reply = self.answers.recv_timeout(ANSWER_WAIT).ok()?;
        CString::new(reply).ok()
    }
}

pub struct LiveLogin {
    events: Receiver<Event>,
    answers: Sender<String>,
    thread: Option<JoinHandle<Result<()>>>,
    /// Every prompt seen so far.
    pub transcript: Vec<String>,
}

impl LiveLogin {
    /// Start authenticating `user` through `service` in `confdir`.
    pub fn start(confdir: &Path, service: &str, user: &str) -> Result<LiveLogin> {
        let (ev_tx, events) = channel();
        let (answers, ans_rx) = channel();
        let c_dir = CString::new(confdir.as_os_str().as_encoded_bytes())?;
        let c_service = CString::new(service)?;
        let c_user = CString::new(user)?;
        let thread = std::thread::spawn(move || -> Result<()> {
            let done = ev_tx.clone();
            let mut relay = Box::new(Relay {
                events: ev_tx,
                answers: ans_rx,
            });
            let conv = Box::new(PamConv {
                conv: conversation::<Relay>,
                appdata_ptr: &mut *relay as *mut Relay as *mut c_void,
            });
            let mut pamh: *mut c_void = std::ptr::null_mut();
            // SAFETY: NUL-terminated strings; `conv` and `relay` are boxed
            // and outlive the handle, which is ended below on this thread.
            let rc = unsafe {
                pam_start_confdir(
                    c_service.as_ptr(),
                    c_user.as_ptr(),
                    &*conv,
                    c_dir.as_ptr(),
                    &mut pamh,
                )
            };
            if rc != PAM_SUCCESS || pamh.is_null() {
                bail!("pam_start_confdir failed: {rc}");
            }
            let _ = done.send(Event::Started(Instant::now()));
            // SAFETY: pamh came from a successful pam_start, not ended.
            let rc = unsafe { pam_authenticate(pamh, 0) };
            let at = Instant::now();
            // SAFETY: the same handle, ended once.
            unsafe { pam_end(pamh, rc) };
            let _ = done.send(Event::Done(rc, at));
            drop(conv);
            drop(relay);
            Ok(())
        });
        Ok(LiveLogin {
            events,
            answers,
            thread: Some(thread),
            transcript: Vec::new(),
        })
    }

    /// The next event, waiting at most `within`.
    pub fn next(&mut self, within: Duration) -> Result<Event> {
        let ev = self.events.recv_timeout(within).map_err(|_| {
            anyhow!(
                "the login said nothing within {within:?}; prompts so far: {:?}",
                self.transcript
            )
        })?;
        if let Event::Prompt(text, _) = &ev {
            self.transcript.push(text.clone());
        }
        Ok(ev)
    }

    /// Wait for the start, then the first prompt: (started, prompt text,
    /// when it was shown).
    pub fn first_prompt(&mut self, within: Duration) -> Result<(Instant, String, Instant)> {
        let started = match self.next(within)? {
            Event::Started(t) => t,
            _ => bail!("the login did not start"),
        };
        match self.next(within)? {
            Event::Prompt(text, at) => Ok((started, text, at)),
            Event::Done(rc, _) => bail!("the login ended with {rc} before any prompt"),
            Event::Started(_) => bail!("the login started twice"),
        }
    }

    /// Answer the current prompt.
    pub fn answer(&self, text: &str) -> Result<()> {
        self.answers
            .send(text.to_string())
            .map_err(|_| anyhow!("the login is gone"))
    }

    /// Wait for `pam_authenticate` to return: its code and when.
    pub fn finish(mut self, within: Duration) -> Result<(i32, Instant)> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left)? {
                Event::Done(rc, at) => {
                    if let Some(t) = self.thread.take() {
                        t.join()
                            .map_err(|_| anyhow!("the login thread panicked"))?
                            .context("login thread")?;
                    }
                    return Ok((rc, at));
                }
                Event::Prompt(text, _) => bail!("unexpected prompt {text:?}"),
                Event::Started(_) => {}
            }
        }
    }
}

impl Drop for LiveLogin {
    fn drop(&mut self) {
        // Dropping `answers` ends a waiting conversation (PAM_CONV_ERR);
        // the thread is left to finish on its own.
        let (tx, _) = channel();
        self.answers = tx;
    }
}

/// The digits after "number " in a prompt.
pub fn number_in(line: &str) -> Option<String> {
    let rest = &line[line.find("number ")? + "number ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}
