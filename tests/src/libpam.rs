//! The few libpam client calls the test driver and the benchmark need, as
//! raw FFI. No Rust PAM client crate exposes `pam_start_confdir`
//! (Linux-PAM >= 1.4), which reads the service file from a folder of our
//! choosing, so a stack can name a module by absolute path and nothing in
//! /etc is touched.

use std::ffi::{c_char, c_int, c_void};

#[repr(C)]
pub struct PamMessage {
    pub msg_style: c_int,
    pub msg: *const c_char,
}

#[repr(C)]
pub struct PamResponse {
    pub resp: *mut c_char,
    pub resp_retcode: c_int,
}

pub type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;

#[repr(C)]
pub struct PamConv {
    pub conv: ConvFn,
    pub appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    pub fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    pub fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    pub fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    pub fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    pub fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
    pub fn pam_strerror(pamh: *mut c_void, errnum: c_int) -> *const c_char;
}

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_PROMPT_ECHO_OFF: c_int = 1;
pub const PAM_PROMPT_ECHO_ON: c_int = 2;
pub const PAM_ERROR_MSG: c_int = 3;
pub const PAM_CONV_ERR: c_int = 19;
pub const PAM_TTY: c_int = 3;
pub const PAM_RHOST: c_int = 4;

/// The body of a PAM conversation function, shared by every client here:
/// it checks libpam's arguments, shows each message to `answer` (style and
/// text), and returns its reply for the prompts in a calloc'd array that
/// libpam frees. `answer` returning None for a prompt aborts the
/// conversation with PAM_CONV_ERR, freeing what was built.
///
/// # Safety
/// `msgs` and `resps` must be what libpam passed to the conversation
/// function, with `num` messages (Linux-PAM: an array of pointers).
pub unsafe fn converse(
    num: c_int,
    msgs: *mut *const PamMessage,
    resps: *mut *mut PamResponse,
    mut answer: impl FnMut(c_int, &std::ffi::CStr) -> Option<std::ffi::CString>,
) -> c_int {
    if num <= 0 || msgs.is_null() || resps.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: per the contract above; the response array is calloc'd and
    // each answer strdup'd, as libpam frees them with free().
    unsafe {
        let out =
            libc::calloc(num as usize, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
        if out.is_null() {
            return PAM_CONV_ERR;
        }
        for i in 0..num as usize {
            let m = &**msgs.add(i);
            let text = if m.msg.is_null() {
                c""
            } else {
                std::ffi::CStr::from_ptr(m.msg)
            };
            let reply = answer(m.msg_style, text);
            if m.msg_style != PAM_PROMPT_ECHO_OFF && m.msg_style != PAM_PROMPT_ECHO_ON {
                continue;
            }
            let Some(reply) = reply else {
                for j in 0..i {
                    libc::free((*out.add(j)).resp as *mut c_void);
                }
                libc::free(out as *mut c_void);
                return PAM_CONV_ERR;
            };
            (*out.add(i)).resp = libc::strdup(reply.as_ptr());
        }
        *resps = out;
    }
    PAM_SUCCESS
}

/// What a conversation does with each message: given its style and text,
/// the reply to a prompt (None aborts the conversation; for other messages
/// the value is ignored).
pub trait Answerer {
    fn answer(&mut self, style: c_int, text: &std::ffi::CStr) -> Option<std::ffi::CString>;
}

/// The conversation function for a `PamConv` whose `appdata_ptr` points at
/// an `A` that outlives the PAM handle.
///
/// # Safety
/// Only libpam calls it, with its own message and response arrays (see
/// [`converse`]) and the `appdata_ptr` of that `PamConv`.
pub unsafe extern "C" fn conversation<A: Answerer>(
    num: c_int,
    msgs: *mut *const PamMessage,
    resps: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if appdata.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: `appdata` is the `A` given to pam_start, alive for the whole
    // authentication; the rest is libpam's, as `converse` requires.
    unsafe {
        let a = &mut *(appdata as *mut A);
        converse(num, msgs, resps, |style, text| a.answer(style, text))
    }
}
