//! Timed logins through libpam (the FFI declarations are shared with the
//! test driver, in `mfa_tests::libpam`). The conversation answers every
//! prompt with one code.

use anyhow::{bail, Result};
use std::ffi::{c_int, c_void, CStr, CString};
use std::path::Path;

use mfa_tests::libpam::{
    conversation, pam_authenticate, pam_end, pam_start_confdir, Answerer, PamConv,
    PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON,
};

pub use mfa_tests::libpam::PAM_SUCCESS;

/// What the conversation answers and what it saw.
struct Answer {
    code: CString,
    prompts: u32,
    /// The last prompt or message text, for diagnosing a failure.
    last_text: String,
}

impl Answerer for Answer {
    fn answer(&mut self, style: c_int, text: &CStr) -> Option<CString> {
        self.last_text = text.to_string_lossy().into_owned();
        if style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON {
            self.prompts += 1;
        }
        Some(self.code.clone())
    }
}

/// One PAM handle, from `pam_start_confdir` to `pam_end`.
pub struct Handle {
    pamh: *mut c_void,
    // libpam copies the pam_conv struct but keeps the appdata pointer.
    _conv: Box<PamConv>,
    answer: Box<Answer>,
    ended: bool,
}

impl Handle {
    /// `pam_start_confdir(service, user, conv, confdir)`: reads the service
    /// file and loads (dlopen) every module it names.
    pub fn start(confdir: &Path, service: &str, user: &str, code: &str) -> Result<Handle> {
        let c_dir = CString::new(confdir.as_os_str().as_encoded_bytes())?;
        let c_service = CString::new(service)?;
        let c_user = CString::new(user)?;
        let mut answer = Box::new(Answer {
            code: CString::new(code)?,
            prompts: 0,
            last_text: String::new(),
        });
        let conv = Box::new(PamConv {
            conv: conversation::<Answer>,
            appdata_ptr: &mut *answer as *mut Answer as *mut c_void,
        });
        let mut pamh: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings; `conv` and `answer` are boxed
        // and live as long as the handle.
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
            bail!("pam_start_confdir({service}) failed: {rc}");
        }
        Ok(Handle {
            pamh,
            _conv: conv,
            answer,
            ended: false,
        })
    }

    /// `pam_authenticate(pamh, 0)`: the return code.
    pub fn authenticate(&mut self) -> i32 {
        // SAFETY: pamh came from a successful pam_start and is not ended.
        unsafe { pam_authenticate(self.pamh, 0) }
    }

    /// `pam_end`: unloads the modules (dlclose).
    pub fn end(mut self, status: i32) {
        self.finish(status);
    }

    fn finish(&mut self, status: i32) {
        if !self.ended {
            self.ended = true;
            // SAFETY: pamh came from a successful pam_start, ended once.
            unsafe { pam_end(self.pamh, status) };
        }
    }

    pub fn prompts(&self) -> u32 {
        self.answer.prompts
    }

    pub fn last_text(&self) -> &str {
        &self.answer.last_text
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.finish(PAM_SUCCESS);
    }
}

/// The outcome of one whole login (start, authenticate, end).
#[derive(Debug, Clone)]
pub struct Login {
    pub rc: i32,
    pub prompts: u32,
    pub last_text: String,
}

/// One complete login, as a host process does it for every session.
pub fn login(confdir: &Path, service: &str, user: &str, code: &str) -> Result<Login> {
    let mut h = Handle::start(confdir, service, user, code)?;
    let rc = h.authenticate();
    let out = Login {
        rc,
        prompts: h.prompts(),
        last_text: h.last_text().to_string(),
    };
    h.end(rc);
    Ok(out)
}
