//! What a relay keeps after a workload: no TOTP secret in its state
//! directory or its memory.

use super::*;

/// For each needle, how many of the process's writable or anonymous
/// memory regions hold it (file-backed read-only mappings are the
/// program's own text and constants: nothing received at run time can be
/// there).
fn regions_holding(pid: i32, needles: &[(&str, Vec<u8>)]) -> Result<HashMap<String, usize>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    let mut found: HashMap<String, usize> =
        needles.iter().map(|(n, _)| (n.to_string(), 0)).collect();
    let mut searched = 0usize;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(3).unwrap_or("");
        let readable = perms.starts_with('r');
        let writable = perms.as_bytes().get(1) == Some(&b'w');
        let anonymous = path.is_empty() || path.starts_with('[');
        if !readable || path == "[vvar]" || path == "[vsyscall]" || !(writable || anonymous) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (start, end) = (
            u64::from_str_radix(start, 16)?,
            u64::from_str_radix(end, 16)?,
        );
        let mut buf = vec![0u8; usize::try_from(end - start)?];
        mem.seek(SeekFrom::Start(start))?;
        if mem.read_exact(&mut buf).is_err() {
            // Page by page, leaving zeros where a page cannot be read.
            for (n, page) in buf.chunks_mut(4096).enumerate() {
                mem.seek(SeekFrom::Start(start + 4096 * n as u64))?;
                if mem.read_exact(page).is_err() {
                    page.fill(0);
                }
            }
        }
        searched += buf.len();
        for (name, needle) in needles {
            // SAFETY: both pointers and lengths describe live slices.
            let hit = unsafe {
                libc::memmem(
                    buf.as_ptr().cast(),
                    buf.len(),
                    needle.as_ptr().cast(),
                    needle.len(),
                )
            };
            if !hit.is_null() {
                *found.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    ensure!(searched > 0, "no memory of pid {pid} could be read");
    Ok(found)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

#[test]
fn a_relay_keeps_no_totp_secret_on_disk_or_in_memory_after_a_workload() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41063, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(1)?;
    let _c0 = fleet.central(0, "", "")?;
    let lab = fleet.relay("lab-a", &[0])?;
    let enrolled = fleet.enroll(&lab.socket, ann)?;
    let s = stack(&lab)?;
    // A workload: a login, a reuse, a wrong code, a recovery code, status.
    let code = next_code(&enrolled.secret)?;
    ensure!(s.login(ann, &[&code])?.rc == rc::SUCCESS);
    ensure!(s.login(ann, &[&code])?.rc == rc::AUTH_ERR);
    ensure!(s.login(ann, &[&wrong_code(&enrolled.secret)?])?.rc == rc::AUTH_ERR);
    ensure!(s.login(ann, &[&enrolled.recovery[0]])?.rc == rc::SUCCESS);
    ensure!(status_text(&fleet, &lab.socket, ann)?.contains("enrolled"));
    // Let the relay's connection tasks end and free their buffers.
    std::thread::sleep(Duration::from_millis(300));

    let raw = mfad::otp::from_base32(&enrolled.secret).ok_or_else(|| anyhow!("bad base32"))?;
    let secret_needles: Vec<(&str, Vec<u8>)> = vec![
        ("base32 secret", enrolled.secret.clone().into_bytes()),
        (
            "lowercase base32 secret",
            enrolled.secret.to_lowercase().into_bytes(),
        ),
        ("raw secret bytes", raw),
        ("otpauth URI", enrolled.uri.clone().into_bytes()),
    ];
    // The control: the relay holds its upstream server's address for as
    // long as it runs, so a search that cannot find it is broken.
    let control = format!("{} control", fleet.addrs[0]);
    let mut needles = secret_needles.clone();
    needles.push((&control, fleet.addrs[0].clone().into_bytes()));

    // On disk: nothing at all, so nothing with the secret.
    let files = files_under(&fleet.relay_state("lab-a"))?;
    for f in &files {
        let bytes = std::fs::read(f)?;
        for (name, needle) in &secret_needles {
            ensure!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "the relay's {} holds the {name}",
                f.display()
            );
        }
    }
    ensure!(files.is_empty(), "the relay keeps files: {files:?}");

    let found = regions_holding(lab.pid(), &needles)?;
    ensure!(
        found.get(&control).copied().unwrap_or(0) > 0,
        "the memory search did not find the relay's upstream address: it cannot find anything"
    );
    let leaks: Vec<_> = secret_needles
        .iter()
        .filter_map(|(name, _)| {
            let n = found.get(*name).copied().unwrap_or(0);
            (n > 0).then(|| format!("{name} in {n} regions"))
        })
        .collect();
    ensure!(
        leaks.is_empty(),
        "the relay (pid {}, {} KiB) holds {}",
        lab.pid(),
        lab.rss_kib()?,
        leaks.join(", ")
    );
    Ok(())
}
