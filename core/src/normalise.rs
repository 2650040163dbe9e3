//! Normalising identifiers for the offline alert check, and the keyed hash over them.
//!
//! A plain hash of a phone number is reversible by brute force (there are few numbers), so the
//! alert check hashes the *normalised* value with HMAC-SHA256 under a team secret held in the
//! encrypted team settings document. Only these hashes are indexed; a check computes the hash of
//! the typed value in memory and looks it up, leaving no plaintext trail.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::model::IdentifierKind;

/// Calling code and trunk prefix for a default country, by ISO 3166 alpha-2 code.
/// A small table of the countries the project has been asked about; more can be added freely.
const COUNTRIES: &[(&str, &str)] = &[
    ("GB", "44"), ("IE", "353"), ("FR", "33"), ("DE", "49"), ("NL", "31"), ("BE", "32"),
    ("ES", "34"), ("PT", "351"), ("IT", "39"), ("PL", "48"), ("RO", "40"), ("BG", "359"),
    ("HU", "36"), ("CZ", "420"), ("SE", "46"), ("NO", "47"), ("DK", "45"), ("FI", "358"),
    ("AT", "43"), ("CH", "41"), ("GR", "30"), ("LT", "370"), ("LV", "371"), ("SK", "421"),
    ("UA", "380"), ("BR", "55"), ("NG", "234"), ("TH", "66"), ("CN", "86"), ("US", "1"),
    ("CA", "1"), ("AU", "61"), ("NZ", "64"),
];

/// The calling code for an ISO country code (case-insensitive), if known.
pub fn calling_code(country: &str) -> Option<&'static str> {
    let c = country.trim().to_ascii_uppercase();
    COUNTRIES.iter().find(|(iso, _)| *iso == c).map(|(_, cc)| *cc)
}

/// Normalises a phone number to E.164 (`+` and 8–15 digits).
///
/// Accepts spaces, dots, dashes, brackets; `00` international prefix; a national number with a
/// leading trunk `0` (or none, for NANP) is placed in `default_country`.
pub fn phone(raw: &str, default_country: &str) -> Result<String> {
    const F: &str = "phone";
    let t = raw.trim();
    if t.is_empty() {
        return Err(Error::invalid(F, "must not be empty"));
    }
    let mut plus = false;
    let mut digits = String::with_capacity(16);
    for (i, c) in t.chars().enumerate() {
        match c {
            '+' if i == 0 => plus = true,
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return Err(Error::invalid(F, "may contain only digits, spaces, + . - ( ) /")),
        }
    }
    let intl = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else {
        let cc = calling_code(default_country)
            .ok_or_else(|| Error::invalid("default_country", "unknown country code"))?;
        let national = match digits.strip_prefix('0') {
            Some(rest) if cc != "1" => rest,
            _ => digits.as_str(),
        };
        format!("{cc}{national}")
    };
    let intl = fix_bracketed_trunk(t, intl);
    if intl.starts_with('0') {
        return Err(Error::invalid(F, "country code cannot start with 0"));
    }
    if !(8..=15).contains(&intl.len()) {
        return Err(Error::invalid(F, "must have 8 to 15 digits with the country code"));
    }
    Ok(format!("+{intl}"))
}

fn fix_bracketed_trunk(raw: &str, intl: String) -> String {
    // "+44 (0)20 7946 0000": the digits came out as 44020…; remove the bracketed 0.
    // Digits typed before "(0)" count without a leading "00" international prefix, which was
    // already stripped from `intl` ("0044 (0)7700…" has two digits of country code before it).
    if let Some(pos) = raw.find("(0)") {
        let typed: String = raw[..pos].chars().filter(|c| c.is_ascii_digit()).collect();
        let before = typed.strip_prefix("00").map(str::len).unwrap_or(typed.len());
        if before > 0 && before < intl.len() && intl.as_bytes()[before] == b'0' {
            let mut s = intl;
            s.remove(before);
            return s;
        }
    }
    intl
}

/// Normalises a vehicle registration: upper case, letters and digits only.
pub fn plate(raw: &str) -> Result<String> {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
        .flat_map(|c| c.to_uppercase())
        .collect();
    if s.is_empty() || s.len() > 12 {
        return Err(Error::invalid("plate", "must have 1 to 12 letters or digits"));
    }
    if !s.chars().all(|c| c.is_alphanumeric()) {
        return Err(Error::invalid("plate", "may contain only letters, digits, spaces and dashes"));
    }
    Ok(s)
}

/// Normalises an email address: trimmed, lower-cased, one `@` with text either side.
pub fn email(raw: &str) -> Result<String> {
    let s = raw.trim().to_lowercase();
    let mut parts = s.split('@');
    let (local, domain) = (parts.next().unwrap_or(""), parts.next());
    match domain {
        Some(d) if !local.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
            && parts.next().is_none() && !s.chars().any(char::is_whitespace) && s.len() <= 254 => Ok(s),
        _ => Err(Error::invalid("email", "must look like name@example.org")),
    }
}

/// Normalises an online username: trimmed, lower-cased, a leading `@` dropped.
pub fn username(raw: &str) -> Result<String> {
    let s = raw.trim().trim_start_matches('@').to_lowercase();
    if s.is_empty() || s.chars().count() > 64 || s.chars().any(char::is_whitespace) {
        return Err(Error::invalid("username", "must be 1 to 64 characters without spaces"));
    }
    Ok(s)
}

/// Normalises an identifier of the given kind.
pub fn identifier(kind: IdentifierKind, raw: &str, default_country: &str) -> Result<String> {
    match kind {
        IdentifierKind::Phone => phone(raw, default_country),
        IdentifierKind::Plate => plate(raw),
        IdentifierKind::Email => email(raw),
        IdentifierKind::Username => username(raw),
    }
}

/// The keyed hash of a normalised identifier (domain-separated by kind).
pub fn keyed_hash(key: &[u8], kind: IdentifierKind, normalised: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key");
    mac.update(b"outreach/alert-id/v1\0");
    mac.update(kind.as_str().as_bytes());
    mac.update(b"\0");
    mac.update(normalised.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Folds a code name for fuzzy matching: lower case, letters and digits, single spaces,
/// common accents removed.
pub fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars().flat_map(|c| c.to_lowercase()) {
        let c = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'ů' => 'u',
            'ý' | 'ÿ' => 'y',
            'ś' | 'š' | 'ș' | 'ş' => 's',
            'ź' | 'ż' | 'ž' => 'z',
            'ł' => 'l',
            'ř' => 'r',
            'ț' | 'ţ' => 't',
            c => c,
        };
        if c.is_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space && !out.is_empty() {
            out.push(' ');
            space = true;
        }
    }
    out.trim_end().to_string()
}

/// Similarity of two folded names in 0..=1 (Jaro-Winkler, with a bonus for a prefix or
/// containment, which is how staff half-remember street names).
pub fn name_similarity(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let jw = strsim::jaro_winkler(a, b);
    let contain = if a.contains(b) || b.contains(a) { 0.9 } else { 0.0 };
    let a_nospace: String = a.chars().filter(|c| *c != ' ').collect();
    let b_nospace: String = b.chars().filter(|c| *c != ' ').collect();
    let jw2 = strsim::jaro_winkler(&a_nospace, &b_nospace);
    jw.max(contain).max(jw2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(phone("07700 900123", "GB").unwrap(), "+447700900123");
        assert_eq!(phone("+44 7700 900123", "GB").unwrap(), "+447700900123");
        assert_eq!(phone("0044 7700-900-123", "FR").unwrap(), "+447700900123");
        assert_eq!(phone("+44 (0)7700 900123", "GB").unwrap(), "+447700900123");
        assert_eq!(phone("0044 (0)7700 900123", "GB").unwrap(), "+447700900123");
        assert_eq!(phone("(555) 010-0199", "US").unwrap(), "+15550100199");
        assert!(phone("call me", "GB").is_err());
        assert!(phone("123", "GB").is_err());
        assert!(phone("07700 900123", "XX").is_err());
    }

    #[test]
    fn plates_emails_usernames() {
        assert_eq!(plate(" ab12 cde ").unwrap(), "AB12CDE");
        assert_eq!(plate("ab-12-cde").unwrap(), "AB12CDE");
        assert!(plate("  ").is_err());
        assert_eq!(email(" Fake.Person@Example.ORG ").unwrap(), "fake.person@example.org");
        assert!(email("nope").is_err());
        assert!(email("a@b@c.d").is_err());
        assert_eq!(username("@Fake_Handle").unwrap(), "fake_handle");
    }

    #[test]
    fn keyed_hash_depends_on_key_and_kind() {
        let a = keyed_hash(b"k1", IdentifierKind::Phone, "+447700900123");
        assert_ne!(a, keyed_hash(b"k2", IdentifierKind::Phone, "+447700900123"));
        assert_ne!(a, keyed_hash(b"k1", IdentifierKind::Username, "+447700900123"));
        assert_eq!(a, keyed_hash(b"k1", IdentifierKind::Phone, "+447700900123"));
    }

    #[test]
    fn names_fold_and_match() {
        assert_eq!(fold_name("  Zö-Zö  Test "), "zo zo test");
        assert!(name_similarity(&fold_name("Fakey Moonbeam"), &fold_name("fakey moonbem")) > 0.9);
        assert!(name_similarity(&fold_name("Fakey"), &fold_name("Testy")) < 0.8);
    }
}
