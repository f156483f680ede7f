//! `mfa methods remove|rename|default`: change one method of an account
//! by its name, as `mfa methods` lists it. mfad refuses to remove the
//! account's last way to log in.

use crate::{call, failed, CmdResult};
use clap::{Subcommand, ValueEnum};
use mfa_proto::methods::{MethodChange, MethodKind};
use mfa_proto::{Request, Response};
use std::path::Path;

/// The kinds `--kind` takes, for a name two kinds share.
#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Totp,
    Push,
    Sms,
    Voice,
}

impl From<Kind> for MethodKind {
    fn from(k: Kind) -> MethodKind {
        match k {
            Kind::Totp => MethodKind::Totp,
            Kind::Push => MethodKind::Push,
            Kind::Sms => MethodKind::Sms,
            Kind::Voice => MethodKind::Voice,
        }
    }
}

#[derive(Subcommand)]
pub enum MethodsCmd {
    /// Remove a method (never the last one: 'mfa remove' is for that).
    Remove {
        #[arg(long)]
        user: Option<String>,
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        label: String,
    },
    /// Give a method a new name.
    Rename {
        #[arg(long)]
        user: Option<String>,
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        label: String,
        new_label: String,
    },
    /// Make a method the first of its kind: where a push or a code by
    /// text or call goes.
    Default {
        #[arg(long)]
        user: Option<String>,
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        label: String,
    },
}

impl MethodsCmd {
    pub fn user(&self) -> Option<&String> {
        match self {
            MethodsCmd::Remove { user, .. }
            | MethodsCmd::Rename { user, .. }
            | MethodsCmd::Default { user, .. } => user.as_ref(),
        }
    }
}

pub fn change(socket: &Path, user: &str, cmd: MethodsCmd) -> CmdResult {
    let (kind, label, change, done) = match cmd {
        MethodsCmd::Remove { kind, label, .. } => {
            let done = format!("removed {label:?}");
            (kind, label, MethodChange::Remove, done)
        }
        MethodsCmd::Rename {
            kind,
            label,
            new_label,
            ..
        } => {
            let done = format!("renamed {label:?} to {new_label:?}");
            (kind, label, MethodChange::Rename { new_label }, done)
        }
        MethodsCmd::Default { kind, label, .. } => {
            let done = format!("{label:?} is now the default of its kind");
            (kind, label, MethodChange::Default, done)
        }
    };
    let req = Request::MethodChange {
        user: user.into(),
        kind: kind.map(MethodKind::from),
        label,
        change,
    };
    match call(socket, &req)? {
        Response::Done => {
            println!("{user}: {done}");
            Ok(())
        }
        other => Err(failed(other)),
    }
}
