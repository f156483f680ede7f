//! Reading a QR code off a terminal transcript, as a phone's camera
//! would, with Debian's zbarimg: an independent decoder for the codes
//! `mfa enroll` and the enrollment at login draw in Unicode half blocks.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// Decode the QR code drawn in a terminal transcript with zbarimg, the way
/// a phone's camera would: each character cell holds two modules, and a
/// drawn half is a light module.
pub fn decode_terminal_qr(text: &str, dir: &Path) -> Result<String> {
    let lines: Vec<Vec<char>> = text
        .lines()
        .filter(|l| l.contains(['█', '▀', '▄']))
        .map(|l| l.chars().collect())
        .collect();
    let width = lines.iter().map(Vec::len).max().unwrap_or(0);
    let scale = 8;
    let mut pbm = format!("P1\n{} {}\n", width * scale, lines.len() * 2 * scale);
    for line in &lines {
        for half in [['█', '▀'], ['█', '▄']] {
            let row: Vec<&str> = (0..width)
                .flat_map(|i| {
                    let light = line.get(i).is_some_and(|c| half.contains(c));
                    std::iter::repeat_n(if light { "0" } else { "1" }, scale)
                })
                .collect();
            let row = row.join(" ");
            for _ in 0..scale {
                pbm.push_str(&row);
                pbm.push('\n');
            }
        }
    }
    let path = dir.join("qr.pbm");
    std::fs::write(&path, pbm)?;
    let out = Command::new("zbarimg")
        .args(["-q", "--raw"])
        .arg(&path)
        .output()
        .context("zbarimg (zbar-tools)")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
