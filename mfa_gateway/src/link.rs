//! Approval links and the page's CSRF field. A link carries mfad's one-time
//! token; anything not shaped like one is answered locally, so garbage
//! requests never reach mfad. The CSRF field ties a form post to a page
//! this process rendered for the same token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// mfad's tokens: 32 random bytes, base64url without padding.
pub const TOKEN_LEN: usize = 43;

/// Whether `s` is shaped like one of mfad's tokens. The strict decode also
/// refuses a last character with stray low bits, so each token has exactly
/// one spelling.
pub fn is_token(s: &str) -> bool {
    s.len() == TOKEN_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|bytes| Zeroizing::new(bytes).len() == 32)
}

/// The link sent to the phone: `base` (the configured `public_url`
/// without its trailing `/`) + `/p/` + token.
pub fn approval_link(base: &str, token: &str) -> String {
    format!("{}/p/{token}", base.trim_end_matches('/'))
}

type HmacSha256 = Hmac<Sha256>;

/// A per-process key: a restart invalidates open pages, which then only
/// need a reload.
pub struct CsrfKey(Zeroizing<[u8; 32]>);

impl CsrfKey {
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut key[..])?;
        Ok(CsrfKey(key))
    }

    #[cfg(test)]
    pub fn from_bytes(key: [u8; 32]) -> Self {
        CsrfKey(Zeroizing::new(key))
    }

    fn mac(&self, token: &str) -> Zeroizing<Vec<u8>> {
        match <HmacSha256 as KeyInit>::new_from_slice(&self.0[..]) {
            Ok(mut mac) => {
                mac.update(b"mfa-gateway csrf v1\0");
                mac.update(token.as_bytes());
                Zeroizing::new(mac.finalize().into_bytes().to_vec())
            }
            // HMAC takes keys of any length; this arm is never taken.
            Err(_) => Zeroizing::new(Vec::new()),
        }
    }

    /// The hidden field for the page of `token`.
    pub fn field(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(&self.mac(token)[..])
    }

    /// Whether `field` is the one [`CsrfKey::field`] gives for `token`,
    /// compared in constant time.
    pub fn check(&self, token: &str, field: &str) -> bool {
        let expected = self.field(token);
        !field.is_empty() && bool::from(expected.as_bytes().ct_eq(field.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const TOKEN: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn token_shape_is_43_chars_of_base64url_for_32_bytes() {
        assert!(is_token(TOKEN));
        assert!(is_token(&URL_SAFE_NO_PAD.encode([0xffu8; 32])));
        for bad in [
            "",
            "abc",
            &TOKEN[..42],
            &format!("{TOKEN}A"),
            &format!("{}=", &TOKEN[..42]),
            &format!("{}+", &TOKEN[..42]),
            &format!("{}/", &TOKEN[..42]),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9", // stray low bits
            "../../../../../../../../../../../etc/passwd",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh\u{e9}",
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn links_join_the_public_url_and_the_token() {
        let want = format!("https://mfa.example.org/p/{TOKEN}");
        assert_eq!(approval_link("https://mfa.example.org", TOKEN), want);
        assert_eq!(approval_link("https://mfa.example.org/", TOKEN), want);
        assert_eq!(
            approval_link("https://example.org/mfa//", TOKEN),
            format!("https://example.org/mfa/p/{TOKEN}")
        );
    }

    #[test]
    fn csrf_fields_are_per_token_and_per_key() {
        let key = CsrfKey::from_bytes([1; 32]);
        let field = key.field(TOKEN);
        assert_eq!(field.len(), 43);
        assert!(key.check(TOKEN, &field));
        assert!(!key.check(TOKEN, ""));
        assert!(!key.check(TOKEN, &field[..42]));
        assert!(!key.check(TOKEN, &format!("{field}x")));
        let other = URL_SAFE_NO_PAD.encode([9u8; 32]);
        assert!(!key.check(&other, &field));
        assert!(!CsrfKey::from_bytes([2; 32]).check(TOKEN, &field));
        let random = CsrfKey::random();
        assert!(random.is_ok_and(|k| !k.check(TOKEN, &field)));
    }
}
