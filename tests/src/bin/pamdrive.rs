//! pamdrive: run one real PAM authentication through libpam and print what
//! the user would see. With `--confdir` it uses `pam_start_confdir`
//! (Linux-PAM >= 1.4), so a service file in a scratch folder can name the
//! module by absolute path and nothing in /etc is touched.
//!
//! Answers come from `--answer` (one per prompt, in order), with
//! `--stdin` from standard input one line per prompt (a test that answers
//! what it has just seen), or, with `--interactive`, from the terminal.
//! `--repeat N` authenticates N times on one PAM handle, as sshd does once
//! per authentication method. Exit status: the last PAM return code.

use std::ffi::{c_int, c_void, CStr, CString};
use std::io::{BufRead, Write};

use mfa_tests::libpam::*;

struct Script {
    answers: std::collections::VecDeque<String>,
    interactive: bool,
    from_stdin: bool,
}

fn read_terminal(echo: bool) -> Option<String> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios calls on stdin with a zeroed struct they fill in.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let is_tty = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if is_tty && !echo {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let n = std::io::stdin().lock().read_line(&mut line).ok()?;
    if is_tty && !echo {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
        println!();
    }
    (n > 0).then(|| line.trim_end_matches(['\n', '\r']).to_string())
}

impl Answerer for Script {
    fn answer(&mut self, style: c_int, text: &CStr) -> Option<CString> {
        let text = text.to_string_lossy();
        let tag = match style {
            PAM_PROMPT_ECHO_OFF => "echo-off",
            PAM_PROMPT_ECHO_ON => "echo-on",
            PAM_ERROR_MSG => "error",
            _ => "info",
        };
        let prompt = style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON;
        if !self.interactive {
            println!("[{tag}] {text}");
        } else if prompt {
            print!("{text}");
        } else {
            println!("{text}");
        }
        let _ = std::io::stdout().flush();
        if !prompt {
            return None;
        }
        let answer = if self.interactive {
            read_terminal(style == PAM_PROMPT_ECHO_ON)
        } else if self.from_stdin {
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(n) if n > 0 => Some(line.trim_end_matches(['\n', '\r']).to_string()),
                _ => None,
            }
        } else {
            self.answers.pop_front()
        };
        answer.map(|a| CString::new(a).unwrap_or_default())
    }
}

fn main() {
    let mut service = "login".to_string();
    let mut user = String::new();
    let mut confdir: Option<String> = None;
    let mut rhost: Option<String> = None;
    let mut tty: Option<String> = None;
    let mut repeat = 1u32;
    let mut script = Script {
        answers: Default::default(),
        interactive: false,
        from_stdin: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--service" => service = val(),
            "--user" => user = val(),
            "--confdir" => confdir = Some(val()),
            "--rhost" => rhost = Some(val()),
            "--tty" => tty = Some(val()),
            "--answer" => script.answers.push_back(val()),
            "--interactive" => script.interactive = true,
            "--stdin" => script.from_stdin = true,
            "--repeat" => repeat = val().parse().unwrap_or(1),
            _ => {
                eprintln!(
                    "usage: pamdrive --service NAME --user USER [--confdir DIR] [--rhost HOST] [--tty TTY] \
                     [--answer TEXT]... [--stdin] [--interactive] [--repeat N]"
                );
                std::process::exit(2);
            }
        }
    }
    let (Ok(c_service), Ok(c_user)) = (CString::new(service), CString::new(user)) else {
        eprintln!("pamdrive: arguments may not contain NUL");
        std::process::exit(2);
    };
    let conv = PamConv {
        conv: conversation::<Script>,
        appdata_ptr: &mut script as *mut Script as *mut c_void,
    };
    let mut pamh: *mut c_void = std::ptr::null_mut();
    // SAFETY: all pointers are valid NUL-terminated strings or live structs
    // that outlive the PAM handle.
    unsafe {
        let rc = match &confdir {
            Some(dir) => {
                let c_dir = CString::new(dir.as_str()).unwrap_or_default();
                pam_start_confdir(
                    c_service.as_ptr(),
                    c_user.as_ptr(),
                    &conv,
                    c_dir.as_ptr(),
                    &mut pamh,
                )
            }
            None => pam_start(c_service.as_ptr(), c_user.as_ptr(), &conv, &mut pamh),
        };
        if rc != 0 {
            eprintln!("pamdrive: pam_start failed: {rc}");
            std::process::exit(rc);
        }
        for (item, value) in [(PAM_RHOST, &rhost), (PAM_TTY, &tty)] {
            if let Some(v) = value {
                let c = CString::new(v.as_str()).unwrap_or_default();
                pam_set_item(pamh, item, c.as_ptr() as *const c_void);
            }
        }
        // More than once on one handle, as sshd does for each method of
        // its AuthenticationMethods (password, keyboard-interactive).
        let mut rc = 0;
        for _ in 0..repeat {
            rc = pam_authenticate(pamh, 0);
            let msg = CStr::from_ptr(pam_strerror(pamh, rc))
                .to_string_lossy()
                .into_owned();
            println!("pam_authenticate: {msg} ({rc})");
        }
        pam_end(pamh, rc);
        std::process::exit(rc);
    }
}
