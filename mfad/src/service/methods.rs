//! What an account can log in with (`methods`, the own account or the
//! help desk's view) and changes to one method by name: remove (never the
//! account's last way in: that is `mfa remove`, for an admin), rename, and
//! make it the default of its kind (where a push or a text goes).

use super::enroll::check_label;
use super::subject::Need;
use super::{store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::clock::Clock;
use crate::store::{MethodRef, Removal, Renamed, Store};
use mfa_proto::methods::{AccountInfo, MethodChange, MethodInfo, MethodKind};
use mfa_proto::phone::Channel;
use mfa_proto::{ErrorCode, Response};
use std::sync::Arc;

fn store_kind(kind: MethodKind) -> Option<MethodRef> {
    match kind {
        MethodKind::Totp => Some(MethodRef::Totp),
        MethodKind::Push => Some(MethodRef::Push),
        MethodKind::Sms | MethodKind::Voice => Some(MethodRef::Phone),
        MethodKind::Recovery => None,
    }
}

fn method(kind: MethodKind, label: String, created_at: i64, default: bool) -> MethodInfo {
    MethodInfo {
        kind,
        label,
        created_at: Some(created_at),
        left: None,
        default,
    }
}

impl<S: Store, C: Clock> Service<S, C> {
    /// The methods of `user` and the account's state; None when it has
    /// none. The first of each kind (of each channel, for phones) is the
    /// default.
    pub(super) async fn account_info(&self, user: &str) -> Result<Option<AccountInfo>, Response> {
        let Some(s) = self.store.summary(user).await.map_err(store_failed)? else {
            return Ok(None);
        };
        let mut methods = Vec::new();
        for (i, a) in s.authenticators.iter().enumerate() {
            let label = a.label.clone();
            methods.push(method(MethodKind::Totp, label, a.totp.created_at, i == 0));
        }
        for (i, t) in self
            .store
            .push_targets(user)
            .await
            .map_err(store_failed)?
            .into_iter()
            .enumerate()
        {
            methods.push(method(MethodKind::Push, t.label, t.created_at, i == 0));
        }
        let phones = self.store.phones(user).await.map_err(store_failed)?;
        for (i, p) in phones.iter().enumerate() {
            let kind = match p.channel {
                Channel::Sms => MethodKind::Sms,
                Channel::Voice => MethodKind::Voice,
            };
            let first = !phones[..i].iter().any(|q| q.channel == p.channel);
            methods.push(method(kind, p.label.clone(), p.created_at, first));
        }
        methods.push(MethodInfo {
            kind: MethodKind::Recovery,
            label: "recovery codes".into(),
            created_at: None,
            left: Some(s.recovery_left),
            default: false,
        });
        Ok(Some(AccountInfo {
            user: user.to_string(),
            methods,
            last_login: s.last_login,
            locked: s.counters.locked,
        }))
    }

    pub(super) async fn methods(self: &Arc<Self>, caller: &Caller, user: &str) -> Response {
        let user = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        match self.account_info(&user).await {
            Ok(info) => Response::Methods {
                user,
                methods: info.map(|i| i.methods).unwrap_or_default(),
            },
            Err(resp) => resp,
        }
    }

    /// Which stored method `label` (of `kind`, when given) names.
    async fn named(
        &self,
        user: &str,
        kind: Option<MethodKind>,
        label: &str,
    ) -> Result<MethodRef, Response> {
        if kind == Some(MethodKind::Recovery) || (kind.is_none() && label == "recovery codes") {
            return Err(Response::error(
                ErrorCode::InvalidArgument,
                "recovery codes are not changed here: 'mfa recovery-codes' makes a new set",
            ));
        }
        let info = self.account_info(user).await?;
        let mut found: Vec<MethodRef> = info
            .map(|i| i.methods)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.label == label && kind.is_none_or(|k| k == m.kind))
            .filter_map(|m| store_kind(m.kind))
            .collect();
        found.dedup();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(Response::error(
                ErrorCode::NotFound,
                format!("{user} has no method named {label:?} (see 'mfa methods')"),
            )),
            _ => Err(Response::error(
                ErrorCode::InvalidArgument,
                format!("more than one kind of method is named {label:?}: say which with --kind"),
            )),
        }
    }

    pub(super) async fn method_change(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        kind: Option<MethodKind>,
        label: &str,
        change: MethodChange,
    ) -> Response {
        let user = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        let which = match self.named(&user, kind, label).await {
            Ok(w) => w,
            Err(resp) => return resp,
        };
        match change {
            MethodChange::Remove => self.remove_one(caller, &user, which, label).await,
            MethodChange::Rename { new_label } => {
                if let Err(resp) = check_label(&new_label) {
                    return resp;
                }
                // A push target's name goes on the approval page: its
                // stricter rule holds for a rename too.
                if which == MethodRef::Push {
                    if let Err(resp) = super::push_targets::valid_label(&new_label) {
                        return *resp;
                    }
                }
                match self
                    .store
                    .rename_method(&user, which, label, &new_label)
                    .await
                {
                    Ok(Renamed::Done) => {
                        let what = format!("method_rename label={label:?} new_label={new_label:?}");
                        audit::admin(&caller.peer, &what, &user);
                        Response::Done
                    }
                    Ok(Renamed::NotFound) => not_found(&user, which, label),
                    Ok(Renamed::Taken) => Response::error(
                        ErrorCode::InvalidArgument,
                        format!("{user} already has a method of that kind named {new_label:?}"),
                    ),
                    Err(e) => store_failed(e),
                }
            }
            MethodChange::Default => match self.store.prefer_method(&user, which, label).await {
                Ok(true) => {
                    audit::admin(
                        &caller.peer,
                        &format!("method_default label={label:?}"),
                        &user,
                    );
                    Response::Done
                }
                Ok(false) => not_found(&user, which, label),
                Err(e) => store_failed(e),
            },
        }
    }

    /// Remove one method, never the account's last way to log in. Every
    /// removal goes through here (`methods remove`, `push remove`,
    /// `phone remove`).
    pub(super) async fn remove_one(
        &self,
        caller: &Caller,
        user: &str,
        which: MethodRef,
        label: &str,
    ) -> Response {
        match self.store.remove_method(user, which, label, true).await {
            Ok(Removal::Removed) => {
                audit::admin(&caller.peer, &format!("method_remove label={label:?}"), user);
                Response::Done
            }
            Ok(Removal::NotFound) => not_found(user, which, label),
            Ok(Removal::Last) => Response::error(
                ErrorCode::PermissionDenied,
                format!("{label:?} is the last way {user} can log in, so it stays: add another method first (an administrator can remove everything with 'mfa remove --user {user}')"),
            ),
            Err(e) => store_failed(e),
        }
    }
}

fn not_found(user: &str, which: MethodRef, label: &str) -> Response {
    let what = match which {
        MethodRef::Totp => "authenticator",
        MethodRef::Push => "push target",
        MethodRef::Phone => "phone",
    };
    Response::error(
        ErrorCode::NotFound,
        format!("{user} has no {what} named {label:?} (see 'mfa methods')"),
    )
}
