//! Recovery codes: ten single-use codes made at enrollment, shown once and
//! stored only as keyed hashes. They look nothing like a TOTP code
//! (letters and digits in three groups), so one prompt can take either.
//! Imported accounts may also have google-authenticator's scratch codes,
//! 8 digits each ([`LEGACY_LEN`]), which can look like an 8-digit TOTP
//! code: the login rule tries such a code both ways.

use crate::crypto::{random_bytes, CryptoError};
use zeroize::Zeroizing;

pub const COUNT: usize = 10;
const LEN: usize = 12;
// 31 symbols, none of 0/o or 1/l/i: about 59 bits a code.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A fresh code, formatted for reading: `abcd-efgh-jkmn`.
pub fn generate() -> Result<Zeroizing<String>, CryptoError> {
    let mut raw = Zeroizing::new([0u8; LEN * 2]);
    random_bytes(&mut raw[..])?;
    let mut out = Zeroizing::new(String::with_capacity(LEN + 2));
    let a = ALPHABET;
    let mut n = 0;
    for pair in raw.chunks(2) {
        // Rejection-free: 16 bits reduced mod 31 has a bias below 0.05%.
        let v = u16::from_be_bytes([pair[0], pair[1]]) as usize % a.len();
        if n > 0 && n % 4 == 0 {
            out.push('-');
        }
        out.push(a[v] as char);
        n += 1;
        if n == LEN {
            break;
        }
    }
    Ok(out)
}

/// Digits of a google-authenticator scratch code, accepted as a recovery
/// code of an account that imported them. None of its digits-only forms
/// can be one of ours, which always have 12 symbols.
pub const LEGACY_LEN: usize = 8;

/// The canonical form of what a user typed, or None if it cannot be a
/// recovery code. Case, spaces and dashes do not matter. A legacy scratch
/// code is its 8 digits.
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    let s: Zeroizing<String> = Zeroizing::new(
        input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    let ours = s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b));
    (ours || is_legacy(&s)).then_some(s)
}

/// Whether a normalized code is a legacy scratch code (8 digits), the one
/// shape a TOTP code of 8 digits shares.
pub fn is_legacy(normalized: &str) -> bool {
    normalized.len() == LEGACY_LEN && normalized.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_normalize_and_differ() -> Result<(), CryptoError> {
        let a = generate()?;
        let b = generate()?;
        assert_eq!(a.len(), 14);
        assert_ne!(*a, *b);
        let n = normalize(&a.to_uppercase().replace('-', " ")).map(|s| s.to_string());
        assert_eq!(n, Some(a.replace('-', "")));
        Ok(())
    }

    #[test]
    fn six_and_seven_digit_totp_codes_are_not_recovery_codes() {
        assert!(normalize("123456").is_none());
        assert!(normalize("1234567").is_none());
        assert!(normalize("123456789").is_none());
        assert!(normalize("abcd-efgh-jkm0").is_none());
    }

    #[test]
    fn eight_digits_are_a_legacy_scratch_code_and_nothing_else_is() {
        let n = normalize(" 5150-0679 ").map(|s| s.to_string());
        assert_eq!(n.as_deref(), Some("51500679"));
        assert!(n.as_deref().is_some_and(is_legacy));
        assert!(normalize("5150067a").is_none());
        assert!(normalize("5150067").is_none());
        // Our own codes never count as legacy, digits or not.
        assert!(!is_legacy("abcdefghjkmn"));
        assert!(!is_legacy("234567892345"));
    }
}
