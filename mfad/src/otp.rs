//! TOTP (RFC 6238) through totp-rs: building a generator from stored
//! parameters, checking a code, and the otpauth:// URI for apps.

use mfa_proto::Algorithm;
use totp_rs::{Builder, Totp, TotpError};

/// Secrets are 160 bits, the size RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;

/// Seconds per time step this daemon accepts, for the site's default and
/// for an imported secret alike: shorter steps leave no time to type a
/// code, longer ones keep a code valid for minutes.
pub const PERIODS: std::ops::RangeInclusive<u64> = 15..=120;

/// The shortest secret accepted for import, in bytes (RFC 4226 §4
/// requires 128 bits).
pub const MIN_IMPORTED_SECRET: usize = 16;

fn alg(a: Algorithm) -> totp_rs::Algorithm {
    match a {
        Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
        Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
        Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
    }
}

/// Parameters of one TOTP generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub algorithm: Algorithm,
    pub digits: u8,
    pub period: u64,
    pub skew: u8,
}

pub fn build(secret: &[u8], p: Params) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(alg(p.algorithm))
        .with_digits(p.digits)
        .with_step_duration(p.period)
        .with_skew(p.skew as u16)
        .with_secret(secret.to_vec())
        .build()
}

/// The lowest time step `code` is valid for at `now` (± skew steps).
pub fn check(secret: &[u8], p: Params, code: &str, now: i64) -> Option<u64> {
    matching_steps(secret, p, code, now).into_iter().next()
}

/// Every time step within ± skew of `now` whose code is `code`, lowest
/// first. Two steps can share a code (one pair in a million), and then the
/// caller must not mistake the later one for a replay of the earlier.
/// Every candidate is computed and compared in constant time, with no early
/// exit, so the time taken says nothing about which step matched.
pub fn matching_steps(secret: &[u8], p: Params, code: &str, now: i64) -> Vec<u64> {
    let Ok(totp) = build(secret, p) else {
        return Vec::new();
    };
    let origin = now.max(0) as u64 / p.period.max(1);
    let window = origin.saturating_sub(p.skew as u64)..=origin + p.skew as u64;
    let mut found = Vec::new();
    for step in window {
        let candidate = totp.generate(step * p.period).to_string();
        if crate::crypto::ct_eq(candidate.as_bytes(), code.as_bytes()) {
            found.push(step);
        }
    }
    found
}

/// Key Uri Format: otpauth://totp/ISSUER:ACCOUNT?secret=..&issuer=..
pub fn uri(secret: &[u8], p: Params, issuer: &str, account: &str) -> Result<String, TotpError> {
    Builder::new()
        .with_algorithm(alg(p.algorithm))
        .with_digits(p.digits)
        .with_step_duration(p.period)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()?
        .to_url()
}

pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

pub fn from_base32(s: &str) -> Option<Vec<u8>> {
    // The copies hold the secret in base32: wiped when dropped.
    let cleaned: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    totp_rs::Secret::try_from_base32(cleaned.trim_end_matches('='))
        .ok()
        .map(|s| s.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(algorithm: Algorithm, digits: u8, period: u64) -> Params {
        Params {
            algorithm,
            digits,
            period,
            skew: 0,
        }
    }

    fn totp_at(secret: &[u8], params: Params, t: u64) -> Result<String, TotpError> {
        Ok(build(secret, params)?.generate(t).to_string())
    }

    // RFC 6238 Appendix B: the seeds are the ASCII digits repeated to the
    // hash's block size.
    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc6238_appendix_b() -> Result<(), TotpError> {
        let rows: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, sha1, sha256, sha512) in rows {
            assert_eq!(
                totp_at(SEED20, p(Algorithm::Sha1, 8, 30), t)?,
                sha1,
                "SHA1 at {t}"
            );
            assert_eq!(
                totp_at(SEED32, p(Algorithm::Sha256, 8, 30), t)?,
                sha256,
                "SHA256 at {t}"
            );
            assert_eq!(
                totp_at(SEED64, p(Algorithm::Sha512, 8, 30), t)?,
                sha512,
                "SHA512 at {t}"
            );
        }
        Ok(())
    }

    // RFC 4226 Appendix D: HOTP is TOTP with a one-second step, so the
    // counter is the time.
    #[test]
    fn rfc4226_appendix_d() -> Result<(), TotpError> {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                &totp_at(SEED20, p(Algorithm::Sha1, 6, 1), counter as u64)?,
                want
            );
        }
        Ok(())
    }

    // Two adjacent steps with the same code, found by search and checked
    // with oathtool: secret bytes 1..=20, steps 67504915 and 67504916 both
    // give 771631 (SHA1, 6 digits, 30 s).
    #[test]
    fn a_code_shared_by_two_steps_matches_both() {
        let secret: Vec<u8> = (1..=20).collect();
        let params = Params {
            skew: 1,
            ..p(Algorithm::Sha1, 6, 30)
        };
        let now = 67_504_916 * 30 + 5;
        assert_eq!(
            matching_steps(&secret, params, "771631", now),
            vec![67_504_915, 67_504_916]
        );
        assert_eq!(check(&secret, params, "771631", now), Some(67_504_915));
        assert!(matching_steps(&secret, params, "771632", now).is_empty());
    }

    #[test]
    fn check_returns_the_matched_step_within_skew_only() -> Result<(), TotpError> {
        let params = Params {
            skew: 1,
            ..p(Algorithm::Sha1, 6, 30)
        };
        let code = totp_at(SEED20, params, 3000)?; // step 100
        assert_eq!(check(SEED20, params, &code, 3000), Some(100));
        assert_eq!(check(SEED20, params, &code, 3030), Some(100));
        assert_eq!(check(SEED20, params, &code, 2970), Some(100));
        assert_eq!(check(SEED20, params, &code, 3060), None);
        assert_eq!(check(SEED20, params, "12345", 3000), None);
        Ok(())
    }

    #[test]
    fn uri_follows_key_uri_format() -> Result<(), TotpError> {
        let u = uri(SEED20, p(Algorithm::Sha1, 6, 30), "Physics Lab", "ann@lab1")?;
        assert!(
            u.starts_with("otpauth://totp/Physics%20Lab:ann%40lab1?"),
            "{u}"
        );
        assert!(u.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{u}");
        assert!(u.contains("issuer=Physics%20Lab"), "{u}");
        Ok(())
    }

    #[test]
    fn base32_roundtrip_is_lenient_about_case_and_spaces() {
        assert_eq!(
            from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").as_deref(),
            Some(SEED20)
        );
        assert_eq!(base32(SEED20), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(from_base32("not base32 !!"), None);
    }
}
