//! The mfad binary with `[dbus] enable = true`, pointed at a private bus
//! through DBUS_SYSTEM_BUS_ADDRESS, as systemd would start it: a bus that
//! is not there yet does not stop mfad or its logins, and mfad takes the
//! name as soon as the bus comes up.

use anyhow::{ensure, Result};
use mfa_tests::dbus::{stdout_of, PrivateBus};
use mfa_tests::{mfa_cli, LocalUsers, MfadProcess};
use std::time::{Duration, Instant};

#[test]
fn mfad_serves_the_bus_named_in_the_environment_once_it_is_up() -> Result<()> {
    let users = LocalUsers::create(41113, 1)?;
    let ann = &users.names()[0];
    let dir = tempfile::tempdir()?;
    let conf = dir.path().join("mfad.toml");
    std::fs::write(&conf, "[dbus]\nenable = true\n")?;
    let socket = dir.path().join("mfad.sock");
    let busdir = tempfile::tempdir()?;
    let address = PrivateBus::address_in(busdir.path());
    let conf_s = conf.display().to_string();
    let mfad = MfadProcess::spawn_env(
        &socket,
        &dir.path().join("state"),
        &["--config", &conf_s],
        &[("DBUS_SYSTEM_BUS_ADDRESS", &address)],
    )?;
    // No bus yet: mfad answers on its socket all the same.
    let (rc, out, err) = mfa_cli(&socket, &["status", "--user", ann], "")?;
    ensure!(rc == 1 && out.contains("not enrolled"), "{rc} {out} {err}");

    let bus = PrivateBus::system_in(busdir)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let out = bus.gdbus(Some(ann), "GetStatus", &[])?;
        if out.status.success() || Instant::now() > deadline {
            break stdout_of(&out)?;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    ensure!(status.contains(&format!("'user': <'{ann}'>")), "{status}");
    let (code, log) = mfad.stop()?;
    ensure!(code == 0, "{log}");
    ensure!(log.contains("D-Bus is not served"), "{log}");
    ensure!(log.contains("serving org.pam_mfa.Mfad1 on D-Bus"), "{log}");
    Ok(())
}
