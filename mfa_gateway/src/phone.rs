//! Codes for phones: the provider of each channel (`[sms]`, `[voice]`),
//! the checks made before anything is sent (a configured channel, a
//! number in E.164), and the rule that neither the code nor the whole
//! number reaches a log line or mfad's database: reasons and stderr are
//! scrubbed of both, and numbers are shown masked to their last digits.

use crate::config::Config;
use crate::deliver::Outcome;
use crate::phone_command::CommandProvider;
use crate::phone_config::PhoneSpec;
use crate::phone_http::{HttpProvider, HttpSetupError};
use mfa_proto::phone::{message, Channel, PhoneDelivery};
use zeroize::Zeroizing;

/// Longest stderr excerpt in a log line.
const MAX_LOGGED: usize = 300;

pub enum Provider {
    Http(HttpProvider),
    Command(CommandProvider),
}

impl Provider {
    fn new(section: &str, spec: &PhoneSpec, retries: u32) -> Result<Self, String> {
        match spec {
            PhoneSpec::Http(h) => HttpProvider::new(section, h, retries)
                .map(Provider::Http)
                .map_err(|e: HttpSetupError| e.to_string()),
            PhoneSpec::Command(c) => CommandProvider::new(section, c).map(Provider::Command),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Provider::Http(_) => "http",
            Provider::Command(_) => "command",
        }
    }

    /// Where it sends, for the start-up line: the API's host or the program.
    pub fn target(&self) -> String {
        match self {
            Provider::Http(h) => h.host(),
            Provider::Command(c) => c.program().to_string(),
        }
    }
}

/// The phone channels of this gateway.
pub struct Phone {
    issuer: String,
    sms: Option<Provider>,
    voice: Option<Provider>,
}

/// How a code's delivery went: the outcome for mfad, and a detail for the
/// log only (a command's stderr), both scrubbed.
pub struct PhoneOutcome {
    pub outcome: Outcome,
    pub via: &'static str,
    pub detail: Option<String>,
}

impl Phone {
    /// Read the secret files and check the programs, at start.
    pub fn prepare(cfg: &Config) -> Result<Phone, String> {
        let (sms, voice) = cfg.phone_specs()?;
        let retries = cfg.delivery.retries;
        Ok(Phone {
            issuer: cfg.issuer.clone(),
            sms: sms.map(|s| Provider::new("sms", &s, retries)).transpose()?,
            voice: voice
                .map(|s| Provider::new("voice", &s, retries))
                .transpose()?,
        })
    }

    /// The channels with a provider, for the `GatewayInfo` of each poll.
    pub fn channels(&self) -> Vec<Channel> {
        [(Channel::Sms, &self.sms), (Channel::Voice, &self.voice)]
            .into_iter()
            .filter(|(_, p)| p.is_some())
            .map(|(c, _)| c)
            .collect()
    }

    pub fn provider(&self, channel: Channel) -> Option<&Provider> {
        match channel {
            Channel::Sms => self.sms.as_ref(),
            Channel::Voice => self.voice.as_ref(),
        }
    }

    /// Deliver one code.
    pub async fn deliver(&self, d: &PhoneDelivery) -> PhoneOutcome {
        let refused = |via, reason: String| PhoneOutcome {
            outcome: Outcome {
                attempts: 0,
                result: Err(reason),
            },
            via,
            detail: None,
        };
        let Some(provider) = self.provider(d.channel) else {
            return refused(
                "none",
                format!(
                    "no {} provider is configured on the gateway",
                    d.channel.as_str()
                ),
            );
        };
        // Checked before it is filled in anywhere: a number that is only
        // `+` and digits cannot change a URL, a body or an argument.
        if !is_e164(&d.to) {
            return refused(
                provider.kind(),
                "the number is not in E.164 form (+ and 8 to 15 digits)".into(),
            );
        }
        let text = Zeroizing::new(message(d, &self.issuer));
        let (outcome, stderr) = match provider {
            Provider::Http(h) => (h.send(&d.to, &text).await, None),
            Provider::Command(c) => {
                let run = c.send(d.channel, &d.to, &text).await;
                (run.outcome, Some(Zeroizing::new(run.stderr)))
            }
        };
        let code = d.code.expose();
        let outcome = Outcome {
            attempts: outcome.attempts,
            result: outcome.result.map_err(|r| scrub(&r, code, &d.to)),
        };
        let detail = stderr
            .filter(|e| !e.is_empty())
            .map(|e| scrub(&String::from_utf8_lossy(&e), code, &d.to));
        PhoneOutcome {
            outcome,
            via: provider.kind(),
            detail,
        }
    }
}

/// `+` and 8 to 15 digits, the first not 0 (ITU-T E.164).
pub fn is_e164(to: &str) -> bool {
    to.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// A number for the log: its last two digits only.
pub fn mask(to: &str) -> String {
    let digits: Vec<char> = to.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
    format!("…{tail}")
}

/// `text` fit for a log line: the code (also spelled out with spaces,
/// commas or dashes between its characters, as a call reads it) and the
/// number removed, every other run of 4 digits or more hidden, lines
/// joined with ` | `, other control characters flattened, and the whole cut to [`MAX_LOGGED`] characters.
pub fn scrub(text: &str, code: &str, to: &str) -> String {
    let text = if to.is_empty() {
        text.to_string()
    } else {
        text.replace(to, "[number]")
    };
    let chars: Vec<char> = text.chars().collect();
    let code: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(text.len().min(MAX_LOGGED * 4));
    let mut i = 0;
    while i < chars.len() {
        if let Some(len) = spelled_at(&chars[i..], &code) {
            out.push_str("[code]");
            i += len;
            continue;
        }
        if chars[i].is_ascii_digit() {
            let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if run >= 4 {
                out.push_str("[digits]");
            } else {
                out.extend(&chars[i..i + run]);
            }
            i += run;
            continue;
        }
        out.push(match chars[i] {
            '\n' => '\n',
            c if c.is_control() => ' ',
            c => c,
        });
        i += 1;
    }
    let out = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if out.chars().count() > MAX_LOGGED {
        out.chars().take(MAX_LOGGED).chain(['…']).collect()
    } else {
        out
    }
}

/// The length of `code` at the start of `text`, its characters possibly
/// separated by spaces, commas, dots or dashes.
fn spelled_at(text: &[char], code: &[char]) -> Option<usize> {
    if code.len() < 3 {
        return None;
    }
    let mut at = 0;
    for (n, want) in code.iter().enumerate() {
        if n > 0 {
            while text
                .get(at)
                .is_some_and(|c| matches!(c, ' ' | ',' | '.' | '-'))
            {
                at += 1;
            }
        }
        if text.get(at) != Some(want) {
            return None;
        }
        at += 1;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plus_and_8_to_15_digits_is_a_number() {
        for ok in [
            "+15551234567",
            "+4930123456",
            "+123456789012345",
            "+12345678",
        ] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "15551234567",
            "+1555123",
            "+1234567890123456",
            "+1555 1234567",
            "+1555123456x",
            "+05551234567",
            "+1555123456;rm",
            "",
            "+",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
        assert_eq!(mask("+15551234567"), "…67");
    }

    #[test]
    fn scrubbing_removes_the_code_however_spelled_and_the_number() {
        let out = scrub(
            "error: cannot send 'code 482913' to +15551234567\n\
             This is pam_mfa. Your code is: 4, 8, 2, 9, 1, 3. at 2026-12-01 code 27",
            "482913",
            "+15551234567",
        );
        assert!(!out.contains("482913") && !out.contains("4, 8, 2"), "{out}");
        assert!(!out.contains("5551234567") && !out.contains('\n'), "{out}");
        assert!(out.contains("[number] | This is"), "{out}");
        assert!(out.contains("[code]") && out.contains("code 27"), "{out}");
        assert!(scrub(&"x".repeat(1000), "482913", "+1").chars().count() <= MAX_LOGGED + 1);
    }
}
