//! What mfad's site policy says about a login before any code is asked
//! for: an exemption (the module answers PAM_IGNORE), or "more
//! information required", an enrollment walked through inside the login
//! itself. mfad decides both; the module only shows what it is told.

use serde::{Deserialize, Serialize};

/// An unenrolled account may (or must) set up an authenticator now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollOffer {
    /// Whether `skip` is accepted now (optional mode, or before the
    /// deadline); false once registration is required.
    pub skip_allowed: bool,
    /// The date (YYYY-MM-DD, UTC) from which registration is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

impl EnrollOffer {
    /// The opening lines of the enrollment screen.
    pub fn headline(&self) -> String {
        let when = match (&self.deadline, self.skip_allowed) {
            (Some(d), true) => format!(
                " From {d} you will not be able to log in without it; you may type skip to do this later."
            ),
            (Some(d), false) => format!(" It is required since {d}."),
            (None, true) => " You may type skip to do this later.".into(),
            (None, false) => " It is required to log in.".into(),
        };
        format!(
            "More information required: this account needs a second factor.{when} Set up an authenticator app now."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_says_whether_skip_is_possible() {
        let before = EnrollOffer {
            skip_allowed: true,
            deadline: Some("2027-02-01".into()),
        };
        assert!(before.headline().starts_with("More information required"));
        assert!(before.headline().contains("type skip"));
        let after = EnrollOffer {
            skip_allowed: false,
            deadline: Some("2027-02-01".into()),
        };
        assert!(!after.headline().contains("skip"));
        assert!(after.headline().contains("required since 2027-02-01"));
    }
}
