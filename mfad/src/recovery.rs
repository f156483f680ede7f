//! Recovery codes: ten single-use codes made at enrollment, shown once and
//! stored only as keyed hashes. They look nothing like a TOTP code
//! (letters and digits in three groups), so one prompt can take either.

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

/// The canonical form of what a user typed, or None if it cannot be a
/// recovery code. Case, spaces and dashes do not matter.
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    let s: Zeroizing<String> = Zeroizing::new(
        input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    (s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
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
    fn totp_codes_are_not_recovery_codes() {
        assert!(normalize("123456").is_none());
        assert!(normalize("12345678").is_none());
        assert!(normalize("abcd-efgh-jkm0").is_none());
    }
}
