//! `mfa agent`: runs in a desktop session, hears its user's pending
//! pushes from mfad on the system bus and shows each as a desktop
//! notification (org.freedesktop.Notifications on the session bus). An
//! action answers the push through mfad: Approve asks for the number the
//! login shows (`--prompt-command`), as the approval page does. Only
//! ActionInvoked signals sent by the current owner of the notifications
//! name, for notifications this agent opened, are acted on.

use crate::Fail;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use zbus::{OwnedVariant, Variant};

type Dict = HashMap<String, OwnedVariant>;

#[zbus::proxy(
    interface = "org.pam_mfa.Mfad1",
    default_service = "org.pam_mfa.Mfad1",
    default_path = "/org/pam_mfa/Mfad1"
)]
trait Mfad1 {
    fn list_pending_pushes(&self) -> zbus::Result<Vec<Dict>>;
    fn answer_push(&self, id: &str, number: &str, decision: &str) -> zbus::Result<bool>;
    #[zbus(signal)]
    fn push_pending(&self, id: String, context: Dict) -> zbus::Result<()>;
    #[zbus(signal)]
    fn push_resolved(&self, id: String, outcome: String) -> zbus::Result<()>;
}

#[zbus::proxy(
    interface = "org.freedesktop.Notifications",
    default_service = "org.freedesktop.Notifications",
    default_path = "/org/freedesktop/Notifications"
)]
trait Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: &str,
        replaces_id: u32,
        app_icon: &str,
        summary: &str,
        body: &str,
        actions: &[&str],
        hints: HashMap<&str, Variant<'_>>,
        expire_timeout: i32,
    ) -> zbus::Result<u32>;
    fn close_notification(&self, id: u32) -> zbus::Result<()>;
    fn get_capabilities(&self) -> zbus::Result<Vec<String>>;
    #[zbus(signal)]
    fn action_invoked(&self, id: u32, action_key: String) -> zbus::Result<()>;
}

const NOTIFICATIONS: &str = "org.freedesktop.Notifications";
/// Pushes are read again this often: it also keeps this connection known
/// to mfad, which sends push signals only to connections it knows.
const REFRESH: Duration = Duration::from_secs(60);

#[derive(clap::Args)]
pub(crate) struct AgentArgs {
    /// Run to ask for the number: its first line of output is the number,
    /// a non-zero exit cancels. $MFA_PUSH_TEXT says which login it is.
    #[arg(
        long,
        default_value = "zenity --entry --title=pam_mfa --text=\"$MFA_PUSH_TEXT\""
    )]
    prompt_command: String,
}

pub(crate) fn run(args: AgentArgs) -> Result<(), Fail> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail(2, format!("cannot start: {e}")))?;
    rt.block_on(agent(args))
}

fn bus_fail(what: &str) -> impl Fn(zbus::Error) -> Fail + '_ {
    move |e| Fail(3, format!("{what}: {e}"))
}

async fn agent(args: AgentArgs) -> Result<(), Fail> {
    let system = zbus::Connection::system()
        .await
        .map_err(bus_fail("cannot reach the system bus"))?;
    let session = zbus::Connection::session()
        .await
        .map_err(bus_fail("cannot reach the session bus"))?;
    let mfad = Mfad1Proxy::new(&system).await.map_err(bus_fail("mfad"))?;
    let notes = NotificationsProxy::new(&session)
        .await
        .map_err(bus_fail("notifications"))?;
    let bus = zbus::fdo::DBusProxy::new(&session)
        .await
        .map_err(bus_fail("session bus"))?;
    let mut pending = mfad
        .receive_push_pending()
        .await
        .map_err(bus_fail("mfad"))?;
    let mut resolved = mfad
        .receive_push_resolved()
        .await
        .map_err(bus_fail("mfad"))?;
    let mut invoked = notes
        .receive_action_invoked()
        .await
        .map_err(bus_fail("notifications"))?;
    let actions = notes
        .get_capabilities()
        .await
        .map(|c| c.iter().any(|c| c == "actions"))
        .unwrap_or(false);
    let mut shown = Shown::default();
    let mut refresh = tokio::time::interval(REFRESH);
    eprintln!("mfa agent: waiting for pushes");
    loop {
        tokio::select! {
            _ = refresh.tick() => {
                // mfad may be restarting: keep going, try again next time.
                let pushes = match mfad.list_pending_pushes().await {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("mfa agent: cannot read pending pushes: {e}");
                        continue;
                    }
                };
                let live: Vec<String> = pushes.iter().map(|p| text(p, "id")).collect();
                // Pushes that ended without a signal (mfad restarted).
                for nid in shown.keep_only(&live) {
                    let _ = notes.close_notification(nid).await;
                }
                for p in pushes {
                    let id = text(&p, "id");
                    if !shown.has_push(&id) {
                        show(&notes, &mut shown, &id, &p, actions, &mfad, &args).await;
                    }
                }
            }
            Some(sig) = pending.next() => {
                let Ok(a) = sig.args() else { continue };
                if !shown.has_push(&a.id) {
                    show(&notes, &mut shown, &a.id, &a.context, actions, &mfad, &args).await;
                }
            }
            Some(sig) = resolved.next() => {
                let Ok(a) = sig.args() else { continue };
                for nid in shown.forget_push(&a.id) {
                    let _ = notes.close_notification(nid).await;
                }
            }
            Some(sig) = invoked.next() => {
                let Ok(a) = sig.args() else { continue };
                let sender = sig.message().header().sender().map(|s| s.to_string());
                let owner = match zbus::names::BusName::try_from(NOTIFICATIONS) {
                    Ok(name) => bus.get_name_owner(name).await.ok().map(|o| o.to_string()),
                    Err(_) => None,
                };
                if sender.is_none() || sender != owner {
                    eprintln!("mfa agent: ignored an action from {sender:?}, not the notification server");
                    continue;
                }
                let Some(push) = shown.push_of(a.id) else { continue };
                let decision = match a.action_key.as_str() {
                    "approve" | "default" => "approve",
                    "deny" => "deny",
                    "report" => "report",
                    _ => continue,
                };
                let text = shown.text_of(a.id);
                spawn_answer(&mfad, push, decision, text, &args);
            }
        }
    }
}

/// The notifications this agent opened: notification id -> (push, text);
/// id 0 for a push asked about at once (no action buttons).
#[derive(Default)]
struct Shown(HashMap<u32, (String, String)>, Vec<String>);

impl Shown {
    /// Forget pushes not in `live`; the notifications to close.
    fn keep_only(&mut self, live: &[String]) -> Vec<u32> {
        self.1.retain(|p| live.contains(p));
        let gone: Vec<u32> = self
            .0
            .iter()
            .filter(|(_, (p, _))| !live.contains(p))
            .map(|(n, _)| *n)
            .collect();
        for n in &gone {
            self.0.remove(n);
        }
        gone
    }
    fn has_push(&self, push: &str) -> bool {
        self.1.iter().any(|p| p == push) || self.0.values().any(|(p, _)| p == push)
    }
    fn push_of(&self, nid: u32) -> Option<String> {
        self.0.get(&nid).map(|(p, _)| p.clone())
    }
    fn text_of(&self, nid: u32) -> String {
        self.0.get(&nid).map(|(_, t)| t.clone()).unwrap_or_default()
    }
    fn forget_push(&mut self, push: &str) -> Vec<u32> {
        let ids: Vec<u32> = self
            .0
            .iter()
            .filter(|(_, (p, _))| p == push)
            .map(|(n, _)| *n)
            .collect();
        for n in &ids {
            self.0.remove(n);
        }
        ids
    }
}

fn text(d: &Dict, key: &str) -> String {
    d.get(key)
        .and_then(|v| String::try_from(v.clone()).ok())
        .unwrap_or_default()
}

/// "Log in as ann on lab7 (sshd from 192.0.2.7)": what the page shows.
fn describe(d: &Dict) -> String {
    let rhost = text(d, "rhost");
    let from = match rhost.is_empty() {
        true => String::new(),
        false => format!(" from {rhost}"),
    };
    let said = format!(
        "Log in as {} on {} ({}{from})",
        text(d, "user"),
        text(d, "host"),
        text(d, "service")
    );
    // Notification servers and zenity read markup: a host name is text.
    said.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[allow(clippy::too_many_arguments)]
async fn show(
    notes: &NotificationsProxy<'_>,
    shown: &mut Shown,
    id: &str,
    ctx: &Dict,
    actions: bool,
    mfad: &Mfad1Proxy<'static>,
    args: &AgentArgs,
) {
    let body = describe(ctx);
    if !actions {
        // No buttons on this desktop: ask for the number at once, once.
        shown.1.push(id.to_string());
        spawn_answer(mfad, id.to_string(), "approve", body, args);
        return;
    }
    let buttons = [
        "default",
        "Approve",
        "approve",
        "Approve…",
        "deny",
        "Deny",
        "report",
        "Not me",
    ];
    let mut hints = HashMap::new();
    hints.insert("urgency", Variant::from(2u8));
    match notes
        .notify(
            "pam_mfa",
            0,
            "dialog-password",
            "Approve this login?",
            &body,
            &buttons,
            hints,
            0,
        )
        .await
    {
        Ok(nid) => {
            shown.0.insert(nid, (id.to_string(), body));
        }
        Err(e) => eprintln!("mfa agent: cannot show a notification: {e}"),
    }
}

/// Answer push `id` in a task of its own, so a prompt left open does not
/// hold up other pushes; a prompt left unanswered gives up with the push.
fn spawn_answer(
    mfad: &Mfad1Proxy<'static>,
    id: String,
    decision: &'static str,
    text: String,
    args: &AgentArgs,
) {
    let (mfad, cmd) = (mfad.clone(), args.prompt_command.clone());
    tokio::spawn(async move {
        let number = match decision {
            "approve" => {
                let asked = tokio::time::timeout(PROMPT_TIMEOUT, prompt(&cmd, &text)).await;
                match asked {
                    Ok(Some(n)) => n,
                    _ => return,
                }
            }
            _ => zeroize::Zeroizing::new(String::new()),
        };
        match mfad.answer_push(&id, &number, decision).await {
            Ok(true) => eprintln!("mfa agent: approved"),
            Ok(false) => eprintln!("mfa agent: not approved ({decision})"),
            Err(e) => eprintln!("mfa agent: {e}"),
        }
    });
}

/// How long a prompt may stay open (a push lasts at most five minutes).
const PROMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// The number typed into the prompt, or None if it was cancelled.
async fn prompt(cmd: &str, text: &str) -> Option<zeroize::Zeroizing<String>> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("MFA_PUSH_TEXT", text)
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let raw = zeroize::Zeroizing::new(out.stdout);
    let all = zeroize::Zeroizing::new(String::from_utf8_lossy(&raw).into_owned());
    let line = all.lines().next().unwrap_or("").trim().to_string();
    (!line.is_empty()).then(|| zeroize::Zeroizing::new(line))
}
