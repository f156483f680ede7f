//! The placeholders of the `[sms]` and `[voice]` templates (`{to}`,
//! `{message}`, `{secret}`) and how each value is encoded for where it
//! goes: percent-encoded in a URL, form-encoded or JSON-escaped in a body,
//! as it is in a command's argument. Filling is one pass over the
//! template, so a value can never be read as a placeholder itself, and the
//! result lives in memory that is wiped on drop (the message holds a code).

use zeroize::Zeroizing;

/// A value the gateway fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The phone number, E.164.
    To,
    /// The text to send or read out; it holds the code.
    Message,
    /// The content of the section's `secret_file`.
    Secret,
}

impl Slot {
    const ALL: [Slot; 3] = [Slot::To, Slot::Message, Slot::Secret];

    pub fn placeholder(self) -> &'static str {
        match self {
            Slot::To => "{to}",
            Slot::Message => "{message}",
            Slot::Secret => "{secret}",
        }
    }
}

/// How a value is written into its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A URL component: everything but `A-Z a-z 0-9 - . _ ~` percent-encoded.
    Url,
    /// `application/x-www-form-urlencoded`: space as `+`, the rest as for
    /// HTML forms.
    Form,
    /// The inside of a JSON string (the template supplies the quotes).
    Json,
    /// As it is: a `text/plain` body, a header, a command's argument.
    Raw,
}

/// Whether `template` holds `slot`'s placeholder.
pub fn has(template: &str, slot: Slot) -> bool {
    template.contains(slot.placeholder())
}

/// `template` with every placeholder replaced by `value(slot)`, encoded.
pub fn fill<'v>(
    template: &str,
    encoding: Encoding,
    value: impl Fn(Slot) -> &'v str,
) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(template.len() + 256));
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match Slot::ALL
            .into_iter()
            .find(|s| rest.starts_with(s.placeholder()))
        {
            Some(slot) => {
                encode_into(&mut out, value(slot), encoding);
                rest = &rest[slot.placeholder().len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn encode_into(out: &mut String, value: &str, encoding: Encoding) {
    match encoding {
        Encoding::Raw => out.push_str(value),
        Encoding::Url => percent(out, value, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
        }),
        Encoding::Form => {
            for part in value.split(' ').enumerate() {
                if part.0 > 0 {
                    out.push('+');
                }
                percent(out, part.1, |b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')
                });
            }
        }
        Encoding::Json => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    }
                    c => out.push(c),
                }
            }
        }
    }
}

fn percent(out: &mut String, value: &str, keep: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn values(s: Slot) -> &'static str {
        match s {
            Slot::To => "+15551234567",
            Slot::Message => "a \"b\" & c=d/é\n{to}",
            Slot::Secret => "s3cr et",
        }
    }

    #[test]
    fn each_encoding_escapes_what_its_place_needs() {
        let t = "to={to}&text={message}";
        assert_eq!(
            *fill(t, Encoding::Form, values),
            "to=%2B15551234567&text=a+%22b%22+%26+c%3Dd%2F%C3%A9%0A%7Bto%7D"
        );
        assert_eq!(
            *fill("/send/{to}?k={secret}", Encoding::Url, values),
            "/send/%2B15551234567?k=s3cr%20et"
        );
        let json = fill(
            r#"{"to":"{to}","text":"{message}"}"#,
            Encoding::Json,
            values,
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["text"], values(Slot::Message));
        assert_eq!(v["to"], "+15551234567");
        assert_eq!(
            *fill("{message}", Encoding::Raw, values),
            values(Slot::Message)
        );
    }

    #[test]
    fn a_filled_value_is_never_read_as_a_placeholder_and_other_braces_stay() {
        let out = fill("{message}|{to}|{x}|{", Encoding::Raw, values);
        assert_eq!(
            *out,
            format!("{}|+15551234567|{{x}}|{{", values(Slot::Message))
        );
        assert!(has("a{to}", Slot::To) && !has("a{to", Slot::To));
    }
}
