//! The file Debian's `google-authenticator` writes (`~/.google_authenticator`):
//! the base32 secret on the first line, option lines starting with `" `
//! (`" TOTP_AUTH`, `" STEP_SIZE 60`, `" WINDOW_SIZE 17`, `" RATE_LIMIT 3 30
//! [times]`, `" DISALLOW_REUSE [steps]`, `" HOTP_COUNTER 1`, and the clock
//! correction its PAM module learns, `" TIME_SKEW n`), then one 8-digit
//! scratch code per line. Parsed strictly: anything this parser does not
//! understand is an error naming the line, because a file read half-right
//! would import a factor that fails at the next login, or one weaker than
//! the user had.

use zeroize::Zeroizing;

/// What google-authenticator's file says, for the import to act on.
#[derive(Debug, Default)]
pub struct GaFile {
    /// The base32 secret as written (whitespace removed).
    pub secret: Zeroizing<String>,
    /// `" TOTP_AUTH`: time-based codes.
    pub totp: bool,
    /// `" HOTP_COUNTER n`: counter-based codes, which this project lacks.
    pub hotp_counter: Option<u64>,
    /// `" STEP_SIZE n`, seconds; google-authenticator's default is 30.
    pub step: Option<u64>,
    /// `" WINDOW_SIZE n`: how many steps' codes were valid at once.
    pub window: Option<u64>,
    /// `" RATE_LIMIT n m`: n logins per m seconds.
    pub rate_limit: Option<(u64, u64)>,
    /// `" DISALLOW_REUSE`, with the time steps already used.
    pub disallow_reuse: Option<Vec<u64>>,
    /// `" TIME_SKEW n`: steps the phone's clock was found off by.
    pub time_skew: Option<i64>,
    /// `" RESETTING_TIME_SKEW …`: a clock correction in progress.
    pub resetting_skew: bool,
    /// The scratch codes, 8 digits each.
    pub scratch: Vec<Zeroizing<String>>,
}

impl GaFile {
    /// Seconds per step: `STEP_SIZE`, else google-authenticator's 30.
    pub fn period(&self) -> u64 {
        self.step.unwrap_or(30)
    }
}

/// Largest file accepted: a real one is under 1 KiB even with every
/// option and a long list of used steps.
pub const MAX_LEN: usize = 64 * 1024;

/// Parse the whole file; the error names the line it is about.
pub fn parse(bytes: &[u8]) -> Result<GaFile, String> {
    if bytes.len() > MAX_LEN {
        return Err(format!("the file is larger than {MAX_LEN} bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not text".to_string())?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("").trim();
    if first.is_empty() {
        return Err("line 1: no secret (the first line must be the base32 secret)".into());
    }
    if first.starts_with('"') {
        return Err("line 1: an option where the base32 secret must be".into());
    }
    let secret = Zeroizing::new(first.split_whitespace().collect::<String>());
    if !secret
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b))
    {
        return Err("line 1: the secret is not base32 (A-Z, 2-7)".into());
    }
    let bits = mfad::otp::from_base32(&secret).map_or(0, |b| Zeroizing::new(b).len() * 8);
    if bits < mfad::otp::MIN_IMPORTED_SECRET * 8 {
        return Err(format!(
            "line 1: the secret is {bits} bits; at least 128 are needed (RFC 4226), so enroll this account anew"
        ));
    }
    let mut file = GaFile {
        secret,
        ..GaFile::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(opt) = line.strip_prefix('"') {
            let Some(opt) = opt.strip_prefix(' ') else {
                return Err(format!(
                    "line {n}: an option line must start with a quote and a space"
                ));
            };
            let mut words = opt.split_whitespace();
            let key = words.next().unwrap_or("");
            if seen.contains(&key) {
                return Err(format!("line {n}: {key} appears twice"));
            }
            seen.push(key);
            option(&mut file, key, words.collect(), n)?;
        } else if line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit()) {
            // google-authenticator makes them 10000000..=99999999 and
            // stops reading at any other line, so a leading zero is not a
            // code it would have accepted.
            if line.starts_with('0') {
                return Err(format!(
                    "line {n}: a scratch code starting with 0 (google-authenticator never accepted one)"
                ));
            }
            file.scratch.push(Zeroizing::new(line.to_string()));
        } else {
            return Err(format!(
                "line {n}: neither an option (\" NAME) nor an 8-digit scratch code"
            ));
        }
    }
    Ok(file)
}

/// Apply one option line's `key` and `args` to `file`.
fn option(file: &mut GaFile, key: &str, args: Vec<&str>, n: usize) -> Result<(), String> {
    let num = |s: &str| -> Result<u64, String> {
        s.parse()
            .map_err(|_| format!("line {n}: {key} has {s:?} where a number must be"))
    };
    let one = |args: &[&str]| -> Result<u64, String> {
        match args {
            [v] => num(v),
            _ => Err(format!("line {n}: {key} takes one number")),
        }
    };
    match key {
        "TOTP_AUTH" if args.is_empty() => file.totp = true,
        "TOTP_AUTH" => return Err(format!("line {n}: TOTP_AUTH takes no value")),
        "HOTP_COUNTER" => file.hotp_counter = Some(one(&args)?),
        "STEP_SIZE" => file.step = Some(one(&args)?),
        "WINDOW_SIZE" => file.window = Some(one(&args)?),
        "TIME_SKEW" => match args.as_slice() {
            [v] => {
                let skew = v
                    .parse()
                    .map_err(|_| format!("line {n}: TIME_SKEW has {v:?} where a number must be"))?;
                file.time_skew = Some(skew);
            }
            _ => return Err(format!("line {n}: TIME_SKEW takes one number")),
        },
        "RATE_LIMIT" => match args.as_slice() {
            // Then the times of recent logins, which do not matter here.
            [count, secs, times @ ..] => {
                file.rate_limit = Some((num(count)?, num(secs)?));
                for t in times {
                    num(t)?;
                }
            }
            _ => return Err(format!("line {n}: RATE_LIMIT takes a count and seconds")),
        },
        "DISALLOW_REUSE" => {
            let steps = args.iter().map(|s| num(s)).collect::<Result<_, _>>()?;
            file.disallow_reuse = Some(steps);
        }
        // Written while the PAM module learns a clock's skew; only the
        // learned TIME_SKEW matters.
        "RESETTING_TIME_SKEW" => file.resetting_skew = true,
        "" => return Err(format!("line {n}: an option line without a name")),
        other => {
            return Err(format!(
                "line {n}: unknown option {other:?}; refusing to guess what it meant"
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `google-authenticator -t -d -f -r 3 -R 30 -w 3 -Q NONE -q`
    /// wrote on Debian 12 (libpam-google-authenticator 20191231-2).
    const TOTP: &str = "7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n51500679\n20161382\n89800231\n67826400\n18368192\n";

    #[test]
    fn a_file_google_authenticator_wrote_parses_whole() -> Result<(), String> {
        let f = parse(TOTP.as_bytes())?;
        assert_eq!(f.secret.as_str(), "7NBHHWUHZV3BCHSWAVAFEJZBJA");
        assert!(f.totp);
        assert_eq!(f.hotp_counter, None);
        assert_eq!(f.period(), 30);
        assert_eq!(f.window, Some(3));
        assert_eq!(f.rate_limit, Some((3, 30)));
        assert_eq!(f.disallow_reuse, Some(vec![]));
        assert_eq!(f.scratch.len(), 5);
        assert_eq!(f.scratch[0].as_str(), "51500679");
        Ok(())
    }

    #[test]
    fn crlf_line_ends_read_the_same() -> Result<(), String> {
        let f = parse(TOTP.replace('\n', "\r\n").as_bytes())?;
        assert_eq!(f.secret.as_str(), "7NBHHWUHZV3BCHSWAVAFEJZBJA");
        assert_eq!(f.rate_limit, Some((3, 30)));
        assert_eq!(f.scratch.len(), 5);
        assert_eq!(f.scratch[4].as_str(), "18368192");
        Ok(())
    }

    #[test]
    fn what_the_pam_module_writes_back_is_understood() -> Result<(), String> {
        let text = "7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" RATE_LIMIT 3 30 1764617000 1764617010\n\" DISALLOW_REUSE 58820566 58820567\n\" TIME_SKEW -2\n\" RESETTING_TIME_SKEW 58820560-2 58820561-2\n\" STEP_SIZE 60\n\" TOTP_AUTH\n";
        let f = parse(text.as_bytes())?;
        assert_eq!(f.disallow_reuse, Some(vec![58820566, 58820567]));
        assert_eq!(f.time_skew, Some(-2));
        assert!(f.resetting_skew);
        assert_eq!(f.period(), 60);
        assert!(f.scratch.is_empty());
        Ok(())
    }

    #[test]
    fn hotp_is_read_so_that_it_can_be_refused() -> Result<(), String> {
        let f =
            parse(b"HXCQL2KYTBIAPV2XBKI3ZMVIKU\n\" WINDOW_SIZE 3\n\" HOTP_COUNTER 1\n63893420\n")?;
        assert_eq!(f.hotp_counter, Some(1));
        assert!(!f.totp);
        Ok(())
    }

    fn error(text: &str) -> String {
        parse(text.as_bytes()).err().unwrap_or_default()
    }

    #[test]
    fn odd_files_are_refused_with_the_line_and_the_reason() {
        assert!(error("").contains("line 1: no secret"));
        assert!(error("\n\" TOTP_AUTH\n").contains("line 1: no secret"));
        assert!(error("\" TOTP_AUTH\n").contains("line 1: an option"));
        assert!(error("not base32!\n").contains("not base32"));
        assert!(error("7NBHHWUHZV3BCHSWAVAFEJZBJ1\n").contains("not base32"));
        let e = error("7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" TOTP_AUTH\n\" FROBNICATE 3\n");
        assert!(
            e.contains("line 3") && e.contains("unknown option \"FROBNICATE\""),
            "{e}"
        );
        let e = error("7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" WINDOW_SIZE lots\n");
        assert!(e.contains("line 2") && e.contains("\"lots\""), "{e}");
        let e = error("7NBHHWUHZV3BCHSWAVAFEJZBJA\n\"TOTP_AUTH\n");
        assert!(e.contains("quote and a space"), "{e}");
        let e = error("7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" TOTP_AUTH\n\" TOTP_AUTH\n");
        assert!(e.contains("appears twice"), "{e}");
        let e = error("7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" TOTP_AUTH\n1234567\n");
        assert!(
            e.contains("line 3") && e.contains("8-digit scratch code"),
            "{e}"
        );
        let e = error("7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" TOTP_AUTH\n01234567\n");
        assert!(e.contains("starting with 0"), "{e}");
        let e = error("7NBHHWUHZV3BCHSWAVAFEJZBJA\n\" RATE_LIMIT 3\n");
        assert!(e.contains("count and seconds"), "{e}");
        assert!(parse(&[0xff, 0xfe]).is_err());
        assert!(parse(&vec![b'A'; MAX_LEN + 1]).is_err());
    }

    #[test]
    fn a_secret_under_128_bits_is_refused() {
        // 16 characters, 80 bits, as older google-authenticators made them.
        let e = error("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n");
        assert!(e.contains("line 1") && e.contains("80 bits"), "{e}");
    }
}
