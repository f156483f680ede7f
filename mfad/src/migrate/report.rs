//! What `mfad migrate` prints when it is done: one line a sysadmin can
//! read at a glance, naming every account that was left as it was.

/// What a run did (or, dry, would do), account by account.
#[derive(Debug, Default)]
pub struct Report {
    pub dry_run: bool,
    pub copied: Vec<String>,
    pub authenticators: usize,
    /// Unused ones (used ones are copied too, as used).
    pub recovery_codes: usize,
    pub phones: usize,
    pub push_targets: usize,
    pub already_there: Vec<String>,
    /// Steps and codes spent on the host after an earlier run, now spent
    /// centrally too.
    pub caught_up: usize,
    /// Accounts left as they are, and why.
    pub conflicts: Vec<(String, String)>,
    pub failed: Vec<(String, String)>,
}

impl Report {
    /// Nothing was refused or failed.
    pub fn clean(&self) -> bool {
        self.conflicts.is_empty() && self.failed.is_empty()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn named(list: &[(String, String)], left: &str) -> String {
    list.iter()
        .map(|(u, why)| format!("{u} ({why}; {left})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would copy" } else { "copied" };
        write!(
            f,
            "{verb} {} ({}, {}, {}, {}); {} already there",
            plural(self.copied.len(), "account", "accounts"),
            plural(self.authenticators, "authenticator", "authenticators"),
            plural(self.recovery_codes, "recovery code", "recovery codes"),
            plural(self.phones, "phone", "phones"),
            plural(self.push_targets, "push target", "push targets"),
            self.already_there.len(),
        )?;
        if self.caught_up > 0 {
            write!(
                f,
                " ({} spent on the host since, now spent centrally too)",
                plural(self.caught_up, "step or code", "steps or codes")
            )?;
        }
        match self.conflicts.len() {
            0 => write!(f, "; no conflicts")?,
            n => write!(
                f,
                "; {}: {}",
                plural(n, "conflict", "conflicts"),
                named(&self.conflicts, "left as it is")
            )?,
        }
        if !self.failed.is_empty() {
            write!(
                f,
                "; {} failed: {}",
                self.failed.len(),
                named(&self.failed, "not copied")
            )?;
        }
        Ok(())
    }
}
