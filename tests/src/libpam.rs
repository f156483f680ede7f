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

pub type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

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
