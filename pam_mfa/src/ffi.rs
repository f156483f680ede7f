//! The PAM entry points: read PAM items, adapt the PAM conversation to
//! [`Conversation`], connect to mfad, log to syslog. This is the only file
//! with `unsafe`. pam-bindings wraps every entry point in catch_unwind, so
//! a panic becomes PAM_ABORT instead of taking sshd down.

use crate::args::Options;
use crate::conversation::{ConvError, Conversation};
use crate::flow::{authenticate, Login};
use crate::outcome::{pam_code, Outcome};
use mfa_proto::session::Session;
use mfa_proto::LoginContext;
use pam::constants::{
    PamFlag, PamResultCode, PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO,
};
use pam::conv::Conv;
use pam::items::{RHost, Service, Tty};
use pam::module::{PamHandle, PamHooks};
use std::ffi::{CStr, CString};
use zeroize::Zeroizing;

pub struct PamMfa;

/// PAM data key: this handle's login has sent its push.
const PUSH_SENT: &str = "pam_mfa_push_sent";
pam::pam_hooks!(PamMfa);

impl PamHooks for PamMfa {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        let args: Vec<&str> = args.iter().filter_map(|a| a.to_str().ok()).collect();
        let (opts, warnings) = Options::parse(args);
        let service = item_string(pamh.get_item::<Service>()).unwrap_or_default();
        let tag = format!("pam_mfa({service}:auth)");
        for w in &warnings {
            syslog(libc::LOG_WARNING, &tag, w);
        }
        let user = match pamh.get_user(None) {
            Ok(u) => u,
            Err(e) => {
                syslog(libc::LOG_ERR, &tag, "cannot get the user name");
                return e;
            }
        };
        let context = LoginContext {
            service,
            rhost: item_string(pamh.get_item::<RHost>()).filter(|s| !s.is_empty()),
            tty: item_string(pamh.get_item::<Tty>()).filter(|s| !s.is_empty()),
            nullok: opts.nullok,
        };
        let login = Login { user, context };
        // sshd runs the stack once per method (password, then
        // keyboard-interactive) on one PAM handle: a push sent by an
        // earlier run of this handle is the login's one push.
        let mut opts = opts;
        // SAFETY: only this module stores data under PUSH_SENT, always a u8.
        if unsafe { pamh.get_data::<u8>(PUSH_SENT) }.is_ok() {
            opts.push = mfa_proto::push::PushMode::Off;
        }
        let conv = match pamh.get_item::<Conv>() {
            Ok(Some(c)) => c,
            _ => {
                syslog(libc::LOG_ERR, &tag, "no conversation function");
                return pam_code(Outcome::Conversation);
            }
        };
        let mut conv = PamConversation(conv);
        // `timeout=` bounds each call to mfad as a whole (connect, hello
        // and the request), so a stalled daemon holds a login that long.
        // Root (sshd, login, su) uses its own socket, whose listen queue
        // no local user can fill.
        // SAFETY: geteuid has no preconditions.
        let as_root = unsafe { libc::geteuid() } == 0;
        let mut session = Session::new(&opts.socket, as_root, opts.timeout, "pam_mfa");
        let mut call = |req: &mfa_proto::Request, within| session.call_within(req, within);
        let debug = opts.debug;
        let mut log = |line: &str| {
            // Denials and faults always reach syslog; successes only with debug.
            let prio = if line.contains("verified by") {
                libc::LOG_INFO
            } else {
                libc::LOG_NOTICE
            };
            if debug || prio == libc::LOG_NOTICE {
                syslog(prio, &tag, line);
            }
        };
        let mut pushed = false;
        let outcome = authenticate(&login, &opts, &mut conv, &mut call, &mut log, &mut pushed);
        drop(session);
        if pushed && pamh.set_data(PUSH_SENT, Box::new(1u8)).is_err() {
            syslog(
                libc::LOG_WARNING,
                &tag,
                "cannot note the push on the PAM handle",
            );
        }
        pam_code(outcome)
    }

    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}

fn item_string<'a, T: std::ops::Deref<Target = &'a CStr>>(
    item: Result<Option<T>, PamResultCode>,
) -> Option<String> {
    item.ok()
        .flatten()
        .map(|v| v.to_string_lossy().into_owned())
}

struct PamConversation<'a>(Conv<'a>);

impl PamConversation<'_> {
    fn ask(
        &self,
        style: pam::constants::PamMessageStyle,
        text: &str,
    ) -> Result<Zeroizing<String>, ConvError> {
        match self.0.send(style, text) {
            Ok(Some(bytes)) => {
                let s = bytes.as_str().map_err(|_| ConvError)?;
                Ok(Zeroizing::new(s.to_string()))
            }
            Ok(None) => Ok(Zeroizing::new(String::new())),
            Err(_) => Err(ConvError),
        }
    }
}

impl Conversation for PamConversation<'_> {
    fn prompt_hidden(&mut self, text: &str) -> Result<Zeroizing<String>, ConvError> {
        self.ask(PAM_PROMPT_ECHO_OFF, text)
    }
    fn prompt_visible(&mut self, text: &str) -> Result<Zeroizing<String>, ConvError> {
        self.ask(PAM_PROMPT_ECHO_ON, text)
    }
    fn error(&mut self, text: &str) -> Result<(), ConvError> {
        self.0
            .send(PAM_ERROR_MSG, text)
            .map(|_| ())
            .map_err(|_| ConvError)
    }
    fn info(&mut self, text: &str) -> Result<(), ConvError> {
        self.0
            .send(PAM_TEXT_INFO, text)
            .map(|_| ())
            .map_err(|_| ConvError)
    }
}

/// One line to syslog under LOG_AUTHPRIV. Opens no log of its own (no
/// openlog), so the host process's syslog identity stays as it was.
fn syslog(priority: libc::c_int, tag: &str, msg: &str) {
    let Ok(line) = CString::new(format!("{tag}: {msg}").replace('\0', "")) else {
        return;
    };
    // SAFETY: a constant "%s" format with one NUL-terminated argument.
    unsafe { libc::syslog(libc::LOG_AUTHPRIV | priority, c"%s".as_ptr(), line.as_ptr()) };
}
