//! Site policy from mfad.toml, which no user can change: which logins skip
//! the second factor (`[policy]`: exempt groups, trusted networks, exempt
//! services) and what happens to an account that has none yet
//! (`[enrollment]`: "more information required" at the login, with a
//! deadline). Pure decisions over the configuration and the time; the
//! service supplies the account's groups.

use mfa_proto::at_login::EnrollOffer;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What a PAM service requires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceRule {
    /// Enrolled accounts are asked; unenrolled ones follow `[enrollment]`.
    #[default]
    Required,
    /// Enrolled accounts are asked; unenrolled ones may always skip.
    Optional,
    /// No second factor for this service (PAM_IGNORE, audited).
    Exempt,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub exempt_groups: Vec<String>,
    /// CIDR blocks (or single addresses) matched against PAM_RHOST.
    pub trusted_networks: Vec<String>,
    pub services: BTreeMap<String, ServiceRule>,
}

/// Enrollment during the first login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrollMode {
    /// No enrollment at login: an unenrolled account is refused (or let
    /// through by the module's `nullok`).
    #[default]
    Off,
    /// Offered; `skip` is accepted until the deadline, or always if none.
    Optional,
    /// Offered; `skip` is accepted only before the deadline.
    Required,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollmentConfig {
    pub mode: EnrollMode,
    /// YYYY-MM-DD: from 00:00 UTC that day, `skip` is refused. Empty: none.
    pub deadline: String,
}

impl EnrollmentConfig {
    /// The deadline as Unix time, or None when there is none.
    pub fn deadline_unix(&self) -> Result<Option<i64>, String> {
        if self.deadline.is_empty() {
            return Ok(None);
        }
        parse_date(&self.deadline)
            .map(|days| Some(days * 86_400))
            .ok_or_else(|| {
                format!(
                    "enrollment.deadline must be a date as YYYY-MM-DD, not {:?}",
                    self.deadline
                )
            })
    }

    /// What an unenrolled account is offered at a login of a service with
    /// `rule` at `now`: None when enrollment at login is off.
    pub fn offer(&self, rule: ServiceRule, now: i64) -> Option<EnrollOffer> {
        let deadline = self.deadline_unix().ok().flatten();
        let before = deadline.is_none_or(|d| now < d);
        let skip_allowed = match (self.mode, rule) {
            (EnrollMode::Off, _) => return None,
            (_, ServiceRule::Optional) => true,
            (EnrollMode::Optional, _) => before,
            (EnrollMode::Required, _) => deadline.is_some() && before,
        };
        Some(EnrollOffer {
            skip_allowed,
            deadline: deadline.map(|_| self.deadline.clone()),
        })
    }
}

/// Why a login needs no second factor; written to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    Service(String),
    Network(String),
    Group(String),
}

impl Exemption {
    pub fn reason(&self) -> String {
        match self {
            Exemption::Service(s) => format!("service={s:?}"),
            Exemption::Network(n) => format!("trusted_network={n:?}"),
            Exemption::Group(g) => format!("exempt_group={g:?}"),
        }
    }
}

impl PolicyConfig {
    pub fn rule(&self, service: &str) -> ServiceRule {
        self.services.get(service).copied().unwrap_or_default()
    }

    /// An exemption that needs no name-service lookup: the service, or a
    /// trusted network containing `rhost` (an address; a host name never
    /// matches, since DNS is not the login's to trust).
    pub fn exempt_without_groups(&self, service: &str, rhost: Option<&str>) -> Option<Exemption> {
        if self.rule(service) == ServiceRule::Exempt {
            return Some(Exemption::Service(service.to_string()));
        }
        let addr = rhost.and_then(parse_addr)?;
        self.trusted_networks
            .iter()
            .find(|n| parse_cidr(n).is_some_and(|c| c.contains(addr)))
            .map(|n| Exemption::Network(n.clone()))
    }

    pub fn validate(&self) -> Result<(), String> {
        for n in &self.trusted_networks {
            if parse_cidr(n).is_none() {
                return Err(format!(
                    "policy.trusted_networks: {n:?} is not an address or a CIDR block (like 10.1.0.0/16 or 2001:db8::/32)"
                ));
            }
        }
        if let Some(g) = self.exempt_groups.iter().find(|g| g.is_empty()) {
            return Err(format!("policy.exempt_groups: {g:?} is not a group name"));
        }
        Ok(())
    }
}

/// An address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.net, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (full, rest) = ((bits / 8) as usize, bits % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0
}

/// `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`. Host bits must be zero,
/// so a typo like 10.1.2.3/8 is caught instead of trusting all of 10/8.
pub fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return None;
    }
    // The block must start at its own address.
    let masked = match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    (masked == addr).then_some(Cidr { net: addr, bits })
}

/// PAM_RHOST as an address: IPv4-mapped IPv6 (`::ffff:10.1.2.3`, what a
/// dual-stack sshd may report) counts as the IPv4 address.
fn parse_addr(rhost: &str) -> Option<IpAddr> {
    match rhost.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
        ),
        v4 => Some(v4),
    }
}

/// Days since 1970-01-01 of a YYYY-MM-DD date (proleptic Gregorian).
fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let len = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > len[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
#[path = "site_policy_tests.rs"]
mod tests;
