//! Unit tests of the site policy's pure decisions.
use super::*;

#[test]
fn dates_count_days_from_the_epoch() {
    assert_eq!(parse_date("1970-01-01"), Some(0));
    assert_eq!(parse_date("2000-03-01"), Some(11_017));
    assert_eq!(parse_date("2026-12-01"), Some(20_788));
    assert_eq!(parse_date("2024-02-29"), Some(19_782));
    for bad in [
        "2023-02-29",
        "2026-13-01",
        "2026-1-01",
        "26-01-01",
        "2026-01-01x",
        "",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
}

#[test]
fn cidr_blocks_match_their_addresses_only() {
    let net = parse_cidr("10.1.0.0/16");
    assert!(net.is_some());
    let p = PolicyConfig {
        trusted_networks: vec![
            "10.1.0.0/16".into(),
            "2001:db8::/32".into(),
            "192.0.2.7".into(),
        ],
        ..Default::default()
    };
    let ex = |r: &str| p.exempt_without_groups("sshd", Some(r));
    assert_eq!(
        ex("10.1.200.3"),
        Some(Exemption::Network("10.1.0.0/16".into()))
    );
    assert_eq!(
        ex("::ffff:10.1.2.3"),
        Some(Exemption::Network("10.1.0.0/16".into()))
    );
    assert_eq!(
        ex("2001:db8:1::5"),
        Some(Exemption::Network("2001:db8::/32".into()))
    );
    assert_eq!(
        ex("192.0.2.7"),
        Some(Exemption::Network("192.0.2.7".into()))
    );
    for no in [
        "10.2.0.1",
        "192.0.2.8",
        "2001:db9::1",
        "lab1.example.edu",
        "10.1.0.1.evil",
    ] {
        assert_eq!(ex(no), None, "{no}");
    }
    assert_eq!(p.exempt_without_groups("sshd", None), None);
    assert!(p.validate().is_ok());
}

#[test]
fn a_block_with_host_bits_set_or_garbage_is_refused() {
    for bad in [
        "10.1.2.3/8",
        "10.0.0.0/33",
        "2001:db8::1/32",
        "ten/8",
        "10.0.0.0/",
        "/8",
    ] {
        assert!(parse_cidr(bad).is_none(), "{bad}");
        let p = PolicyConfig {
            trusted_networks: vec![bad.into()],
            ..Default::default()
        };
        assert!(p.validate().is_err(), "{bad}");
    }
    assert!(parse_cidr("0.0.0.0/0").is_some());
    assert!(parse_cidr("10.1.2.3/32").is_some());
    assert!(parse_cidr("10.1.3.0/23").is_none());
    assert!(parse_cidr("10.1.2.0/23").is_some());
    assert!(parse_cidr("10.1.2.0/24").is_some());
}

#[test]
fn services_default_to_required_and_exempt_ones_say_so() {
    let mut p = PolicyConfig::default();
    p.services.insert("cron".into(), ServiceRule::Exempt);
    p.services.insert("login".into(), ServiceRule::Optional);
    assert_eq!(p.rule("sshd"), ServiceRule::Required);
    assert_eq!(p.rule("login"), ServiceRule::Optional);
    assert_eq!(
        p.exempt_without_groups("cron", None),
        Some(Exemption::Service("cron".into()))
    );
    assert_eq!(p.exempt_without_groups("login", None), None);
}

#[test]
fn skip_is_allowed_until_the_deadline_and_always_for_optional_services() {
    let deadline = 20_788 * 86_400; // 2026-12-01T00:00Z
    let e = |mode, deadline: &str| EnrollmentConfig {
        mode,
        deadline: deadline.into(),
    };
    let skip = |c: &EnrollmentConfig, rule, now| c.offer(rule, now).map(|o| o.skip_allowed);
    let req = e(EnrollMode::Required, "2026-12-01");
    assert_eq!(skip(&req, ServiceRule::Required, deadline - 1), Some(true));
    assert_eq!(skip(&req, ServiceRule::Required, deadline), Some(false));
    assert_eq!(skip(&req, ServiceRule::Optional, deadline + 99), Some(true));
    assert_eq!(
        skip(&e(EnrollMode::Required, ""), ServiceRule::Required, 0),
        Some(false)
    );
    assert_eq!(
        skip(
            &e(EnrollMode::Optional, ""),
            ServiceRule::Required,
            deadline
        ),
        Some(true)
    );
    let opt = e(EnrollMode::Optional, "2026-12-01");
    assert_eq!(skip(&opt, ServiceRule::Required, deadline), Some(false));
    assert_eq!(e(EnrollMode::Off, "").offer(ServiceRule::Required, 0), None);
    assert_eq!(
        req.offer(ServiceRule::Required, 0).and_then(|o| o.deadline),
        Some("2026-12-01".into())
    );
    assert!(e(EnrollMode::Required, "1 Dec").deadline_unix().is_err());
}
