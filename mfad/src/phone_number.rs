//! Phone numbers and phone codes as values: a number as typed turned
//! into E.164 (or a clear reason why not), and a fresh random code.

use zeroize::Zeroizing;

/// A number as typed, in E.164, or why not.
pub fn normalize_e164(typed: &str) -> Result<String, String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '(' | ')' | '.'))
        .collect();
    let digits = match (s.strip_prefix('+'), s.strip_prefix("00")) {
        (Some(d), _) | (None, Some(d)) => d,
        _ => "",
    };
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(format!("+{digits}"))
    } else {
        Err(format!(
            "{typed:?} is not a phone number in international form: give + and the country code, like +44 20 7946 0958"
        ))
    }
}

/// `digits` random decimal digits.
pub fn random_code(digits: u8) -> Result<Zeroizing<String>, String> {
    let mut raw = Zeroizing::new([0u8; 16]);
    crate::crypto::random_bytes(&mut raw[..]).map_err(|e| e.to_string())?;
    // Two bytes a digit, reduced mod 10: a bias below 0.01%.
    Ok(Zeroizing::new(
        raw.chunks(2)
            .take(digits as usize)
            .map(|p| char::from(b'0' + (u16::from_be_bytes([p[0], p[1]]) % 10) as u8))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalized_to_e164_or_refused_with_the_form_to_use() {
        assert_eq!(
            normalize_e164("+44 20 7946 0958").as_deref(),
            Ok("+442079460958")
        );
        assert_eq!(
            normalize_e164("0049 (30) 1234-5678").as_deref(),
            Ok("+493012345678")
        );
        assert_eq!(
            normalize_e164("+1.555.123.4567").as_deref(),
            Ok("+15551234567")
        );
        for bad in [
            "020 7946 0958",
            "+0123456789",
            "+12",
            "+1234567890123456",
            "+44 20x7946",
            "",
            "+44;rm",
        ] {
            let e = normalize_e164(bad);
            assert!(
                matches!(&e, Err(m) if m.contains("international form")),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn codes_have_the_configured_digits() -> Result<(), String> {
        for d in 6..=8 {
            let c = random_code(d)?;
            assert_eq!(c.len(), d as usize);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
        Ok(())
    }
}
