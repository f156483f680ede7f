//! No tokio in the PAM module: it runs inside sshd, login and sudo, which
//! must never get an async runtime. The workspace build compiles
//! mfa_proto with mfad's tokio feature, so this checks that nothing of it
//! reaches the built module (the packaged one, built on its own, is
//! checked by the end-to-end test).

use anyhow::{bail, Result};
use mfa_tests::artifact;
use std::process::Command;

fn symbols(args: &[&str]) -> Result<String> {
    let module = artifact("libpam_mfa.so")?;
    let out = Command::new("nm").args(args).arg(&module).output()?;
    if !out.status.success() {
        bail!("nm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_built_module_has_no_tokio_symbol() -> Result<()> {
    let all = symbols(&["--demangle"])?;
    let dynamic = symbols(&["-D", "--demangle"])?;
    // The check can see symbols at all: the PAM entry points are there.
    assert!(dynamic.contains("pam_sm_authenticate"), "{dynamic}");
    assert!(all.lines().count() > 100, "no symbol table to check");
    for (what, list) in [("symbol table", &all), ("dynamic symbols", &dynamic)] {
        let tokio: Vec<&str> = list.lines().filter(|l| l.contains("tokio")).collect();
        assert!(tokio.is_empty(), "tokio in the module's {what}: {tokio:?}");
    }
    Ok(())
}

#[test]
fn the_module_loads_no_libgcc_s_and_exports_no_unwinder() -> Result<()> {
    // pam_mfa/build.rs links libgcc_eh.a's unwinder in, hidden, so a login
    // does not pay for loading libgcc_s.so.1.
    let module = artifact("libpam_mfa.so")?;
    let out = Command::new("readelf").arg("-d").arg(&module).output()?;
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(dynamic.contains("libpam.so"), "{dynamic}");
    assert!(!dynamic.contains("libgcc_s"), "{dynamic}");
    let exported = symbols(&["-D", "--defined-only"])?;
    assert!(!exported.contains("_Unwind_"), "{exported}");
    Ok(())
}
