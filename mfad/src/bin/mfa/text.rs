//! Keeping what `mfa` prints within an 80-column terminal: prose wrapped
//! at spaces, and the otpauth URI (one token, often 110 characters) shown
//! as pieces cut before `?` and `&`, to be joined into one line.

/// `text` wrapped at spaces to `width` columns; continuation lines start
/// with `indent`. A word longer than a line stays whole.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let fits = line.chars().count() + 1 + word.chars().count() <= width;
        if !line.is_empty() && !line.trim().is_empty() && !fits {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
        } else if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out
}

/// `uri` cut before each `?` and `&`, and any piece longer than `width`
/// cut again, so joining the pieces gives the URI back.
pub fn uri_pieces(uri: &str, width: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut cur = String::new();
    for c in uri.chars() {
        if (c == '?' || c == '&' || cur.chars().count() >= width) && !cur.is_empty() {
            pieces.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_is_wrapped_within_the_width() {
        let long = "wrong code: nothing was saved. Check the phone's clock and run mfa enroll --confirm CODE with a new code";
        let w = wrap(&format!("mfa: {long}"), 80, "     ");
        assert!(w.lines().all(|l| l.chars().count() <= 80), "{w}");
        assert_eq!(w.lines().count(), 2);
        assert!(w
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("     ") && !l.starts_with("      ")));
        assert_eq!(
            w.split_whitespace().collect::<Vec<_>>().join(" "),
            format!("mfa: {long}")
        );
    }

    #[test]
    fn uri_pieces_join_back_into_the_uri() {
        let uri = format!(
            "otpauth://totp/pam_mfa:{}%40host?secret=ABC&issuer=pam_mfa",
            "u".repeat(100)
        );
        let pieces = uri_pieces(&uri, 76);
        assert!(pieces.iter().all(|p| p.chars().count() <= 76));
        assert_eq!(pieces.concat(), uri);
        assert!(pieces.iter().any(|p| p == "?secret=ABC"));
    }
}
