//! The one table that turns the result of an attempt into a PAM return
//! code. Everything that is not a verified code denies.

use pam::constants::PamResultCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A code or recovery code was accepted.
    Verified,
    /// Wrong or reused code(s).
    Denied,
    /// Rate limited or locked.
    TooManyAttempts,
    /// No enrollment, and the module line does not say `nullok`.
    NotEnrolled,
    /// No enrollment and `nullok`: let the rest of the stack decide.
    Exempt,
    /// The daemon refused this caller (SO_PEERCRED rules).
    Refused,
    /// mfad is down, unreachable or too slow: fail closed.
    Unavailable,
    /// The conversation with the user failed.
    Conversation,
    /// A protocol error or a daemon-side fault.
    SystemError,
}

pub fn pam_code(o: Outcome) -> PamResultCode {
    match o {
        Outcome::Verified => PamResultCode::PAM_SUCCESS,
        Outcome::Denied | Outcome::NotEnrolled => PamResultCode::PAM_AUTH_ERR,
        Outcome::TooManyAttempts => PamResultCode::PAM_MAXTRIES,
        // An exemption never grants access by itself.
        Outcome::Exempt => PamResultCode::PAM_IGNORE,
        Outcome::Refused => PamResultCode::PAM_PERM_DENIED,
        Outcome::Unavailable => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Outcome::Conversation => PamResultCode::PAM_CONV_ERR,
        Outcome::SystemError => PamResultCode::PAM_SYSTEM_ERR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verified_code_succeeds() {
        let all = [
            Outcome::Verified,
            Outcome::Denied,
            Outcome::TooManyAttempts,
            Outcome::NotEnrolled,
            Outcome::Exempt,
            Outcome::Refused,
            Outcome::Unavailable,
            Outcome::Conversation,
            Outcome::SystemError,
        ];
        for o in all {
            assert_eq!(
                pam_code(o) == PamResultCode::PAM_SUCCESS,
                o == Outcome::Verified,
                "{o:?}"
            );
        }
        assert_eq!(pam_code(Outcome::Exempt), PamResultCode::PAM_IGNORE);
        assert_eq!(
            pam_code(Outcome::Unavailable),
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        );
    }
}
