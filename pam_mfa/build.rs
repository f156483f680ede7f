//! Link the unwinder the module needs for `panic = "unwind"` (pam-bindings
//! turns a panic into PAM_ABORT) statically from GCC's libgcc_eh.a, with
//! hidden symbols, instead of loading libgcc_s.so.1 into every host
//! process: that library alone was about half of the module's dlopen
//! cost in a login (BENCHMARKS.md). Unwinding stays within the module, so
//! a host that has its own libgcc_s loaded is not affected. If the
//! compiler has no libgcc_eh.a, the default (libgcc_s) is kept.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let archive = Path::new(&printed);
    if !out.status.success() || !archive.is_absolute() || !archive.exists() {
        return;
    }
    if let Some(dir) = archive.parent() {
        println!("cargo:rustc-link-search=native={}", dir.display());
        // Resolved before std's own -lgcc_s, which --as-needed then drops.
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
}
