//! Parsing option values into core types.
//!
//! Controlled lists are parsed with the core's `FromStr`, so the CLI accepts exactly what the
//! core does; a bad value names the option and lists the allowed values (never the value typed).

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use outreach_core::{
    ConsentFlags, Referral, ReferralDestination, ReferralMode, ReferralStatus, Service,
};

use crate::errors::{CliError, CliResult};

/// A controlled-list value (`--setting street`): the core's `FromStr`, re-labelled with the
/// option's name.
pub fn controlled<T>(option: &str, value: &str, names: fn() -> Vec<&'static str>) -> CliResult<T>
where
    T: FromStr,
{
    value
        .parse::<T>()
        .map_err(|_| CliError::invalid(option, format!("must be one of: {}", names().join(", "))))
}

/// Several controlled values (repeated and/or comma-separated options).
pub fn controlled_list<T>(
    option: &str,
    values: &[String],
    names: fn() -> Vec<&'static str>,
) -> CliResult<Vec<T>>
where
    T: FromStr + PartialEq,
{
    let mut out = Vec::new();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let t = controlled::<T>(option, v, names)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// An RFC 3339 time (`2026-01-31T22:15:00Z` or with an offset).
pub fn time(option: &str, value: &str) -> CliResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            CliError::invalid(
                option,
                "use an RFC 3339 time such as 2026-01-31T22:15:00Z or 2026-01-31T22:15:00+01:00",
            )
        })
}

/// A calendar date (`2026-01-31`).
pub fn date(option: &str, value: &str) -> CliResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| CliError::invalid(option, "use a date such as 2026-01-31"))
}

/// `yes`/`no` (also `true`/`false`, `y`/`n`).
pub fn yes_no(option: &str, value: &str) -> CliResult<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" => Ok(true),
        "no" | "n" | "false" => Ok(false),
        _ => Err(CliError::invalid(option, "must be yes or no")),
    }
}

/// Optional free text where an empty value means "clear it".
pub fn opt_text(value: Option<&String>) -> Option<Option<String>> {
    value.map(|v| {
        let t = v.trim();
        if t.is_empty() {
            None
        } else {
            Some(t.to_string())
        }
    })
}

/// Applies `--service NAME=COUNT` entries to a services map. A count of 0 removes the service.
pub fn apply_services(values: &[String], services: &mut BTreeMap<Service, u32>) -> CliResult<()> {
    let rule = || {
        format!(
            "use NAME=COUNT with COUNT a whole number (0 removes it) and NAME one of: {}",
            Service::names().join(", ")
        )
    };
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let (name, count) = v
            .split_once('=')
            .ok_or_else(|| CliError::invalid("--service", rule()))?;
        let service: Service = name
            .parse()
            .map_err(|_| CliError::invalid("--service", rule()))?;
        let n: u32 = count
            .trim()
            .parse()
            .map_err(|_| CliError::invalid("--service", rule()))?;
        if n == 0 {
            services.remove(&service);
        } else {
            services.insert(service, n);
        }
    }
    Ok(())
}

/// Parses `--referral DESTINATION:MODE:CONSENT:STATUS`, e.g. `sexual_health:signposted:consent:offered`.
/// CONSENT is `consent` or `no_consent` (also `yes`/`no`).
pub fn referral(value: &str) -> CliResult<Referral> {
    let rule = || {
        format!(
            "use DESTINATION:MODE:CONSENT:STATUS, e.g. sexual_health:signposted:consent:offered; DESTINATION one of: {}; MODE one of: {}; CONSENT consent or no_consent; STATUS one of: {}",
            ReferralDestination::names().join(", "),
            ReferralMode::names().join(", "),
            ReferralStatus::names().join(", ")
        )
    };
    let parts: Vec<&str> = value.trim().split(':').map(|p| p.trim()).collect();
    let [dest, mode, consent, status] = parts[..] else {
        return Err(CliError::invalid("--referral", rule()));
    };
    let destination: ReferralDestination = dest
        .parse()
        .map_err(|_| CliError::invalid("--referral", rule()))?;
    let mode: ReferralMode = mode
        .parse()
        .map_err(|_| CliError::invalid("--referral", rule()))?;
    let consent = match consent.to_ascii_lowercase().replace('-', "_").as_str() {
        "consent" | "consented" | "yes" | "y" | "true" => true,
        "no_consent" | "none" | "no" | "n" | "false" => false,
        _ => return Err(CliError::invalid("--referral", rule())),
    };
    let status: ReferralStatus = status
        .parse()
        .map_err(|_| CliError::invalid("--referral", rule()))?;
    Ok(Referral {
        destination,
        mode,
        consent,
        status,
    })
}

/// Names accepted by `--consent`.
pub const CONSENT_FLAGS: &[&str] = &["record", "follow_up_contact", "share_with_partners", "none"];

/// Parses `--consent record,follow_up_contact` into flags (`none` clears them all).
pub fn consent_flags(values: &[String]) -> CliResult<ConsentFlags> {
    let mut f = ConsentFlags::default();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        match v.to_ascii_lowercase().replace('-', "_").as_str() {
            "record" => f.record = true,
            "follow_up_contact" | "follow_up" => f.follow_up_contact = true,
            "share_with_partners" | "share" => f.share_with_partners = true,
            "none" => f = ConsentFlags::default(),
            _ => {
                return Err(CliError::invalid(
                    "--consent",
                    format!("must be one or more of: {}", CONSENT_FLAGS.join(", ")),
                ))
            }
        }
    }
    Ok(f)
}

/// A record id (UUID), trimmed; the core checks its form.
pub fn id(value: &str) -> String {
    value.trim().to_string()
}

/// Comma-separated lists given as one or many options, trimmed, empties dropped.
pub fn list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use outreach_core::Setting;

    #[test]
    fn controlled_values_use_the_core_names_and_list_them_on_error() {
        let s: Setting = controlled("--setting", "sauna-parlour", Setting::names).unwrap();
        assert_eq!(s, Setting::Sauna);
        let e = controlled::<Setting>("--setting", "rooftop", Setting::names).unwrap_err();
        assert!(
            e.message
                .starts_with("invalid --setting: must be one of: street, indoor"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("rooftop"));
    }

    #[test]
    fn services_merge_and_zero_removes() {
        let mut m = BTreeMap::new();
        apply_services(&["condoms=10".into(), "lube=5".into()], &mut m).unwrap();
        apply_services(&["condoms=0".into(), "lube=7".into()], &mut m).unwrap();
        assert_eq!(m.into_iter().collect::<Vec<_>>(), vec![(Service::Lube, 7)]);
        let mut m = BTreeMap::new();
        assert!(apply_services(&["condoms".into()], &mut m).is_err());
        assert!(apply_services(&["biscuits=2".into()], &mut m).is_err());
        assert!(apply_services(&["condoms=-1".into()], &mut m).is_err());
    }

    #[test]
    fn referrals_have_four_parts() {
        let r = referral("sexual_health:signposted:consent:offered").unwrap();
        assert_eq!(r.destination, ReferralDestination::SexualHealth);
        assert_eq!(r.mode, ReferralMode::Signposted);
        assert!(r.consent);
        assert_eq!(r.status, ReferralStatus::Offered);
        assert!(
            !referral("housing:direct_referral:no_consent:made")
                .unwrap()
                .consent
        );
        assert!(referral("housing:direct_referral:made").is_err());
        assert!(referral("housing:teleported:consent:made").is_err());
    }

    #[test]
    fn consent_flags_parse_and_none_clears() {
        let f = consent_flags(&["record".into(), "follow_up_contact".into()]).unwrap();
        assert!(f.record && f.follow_up_contact && !f.share_with_partners);
        assert_eq!(
            consent_flags(&["record".into(), "none".into()]).unwrap(),
            ConsentFlags::default()
        );
        assert!(consent_flags(&["everything".into()]).is_err());
    }

    #[test]
    fn times_and_dates() {
        assert_eq!(
            time("--at", "2026-01-31T23:15:00+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-01-31T22:15:00+00:00"
        );
        assert!(time("--at", "last tuesday").is_err());
        assert_eq!(
            date("--night", "2026-01-31").unwrap().to_string(),
            "2026-01-31"
        );
        assert!(date("--night", "31/01/2026").is_err());
    }
}
