//! Shared helpers of the commands that talk to a hub: the transport, device labels, roles,
//! durations and the team's device directory.
//!
//! Nothing here reads or prints a secret: setup and invite codes are read in `context` and go
//! straight to the core.

use std::cell::RefCell;

use outreach_core::{HttpTransport, Store, Transport, TransportError};
use outreach_proto::messages::{paths, DeviceInfo, DevicesResponse, Role};

use crate::context::Context;
use crate::errors::{CliError, CliResult};

/// Longest device label the protocol accepts (bytes).
pub const MAX_DEVICE_NAME: usize = 64;
/// Longest invite the hub accepts (7 days), in milliseconds.
pub const MAX_INVITE_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// A client for a hub URL typed by the operator (`--hub`).
pub fn transport_for(url: &str) -> CliResult<HttpTransport> {
    HttpTransport::new(url.trim()).map_err(|_| {
        CliError::invalid(
            "--hub",
            "must be an https:// URL (plain http:// only for a hub on this machine, e.g. http://127.0.0.1:8443)",
        )
    })
}

/// A client for the hub this store syncs with.
pub fn store_transport(ctx: &Context, store: &Store) -> CliResult<HttpTransport> {
    let url = store
        .hub_url()
        .map_err(|e| ctx.core(e))?
        .ok_or_else(not_registered)?;
    HttpTransport::new(&url).map_err(|e| ctx.core(e))
}

/// The error of an operation that only works online (erasure, withdrawing an alert): no
/// answer from the hub is exit 6 with "`what` needs the hub, which cannot be reached (…);
/// `nothing_done`; try again when online"; anything else as for a sync.
pub fn online_only_err(ctx: &Context, what: &str, nothing_done: &str, e: outreach_core::Error) -> CliError {
    match e {
        outreach_core::Error::Network(kind) => CliError {
            exit: crate::errors::Exit::Network,
            message: format!(
                "{what} needs the hub, which cannot be reached ({}); {nothing_done}; try again when online",
                crate::output::cell(&kind)
            ),
        },
        other => ctx.sync_err(other),
    }
}

/// The error for a store that has never met a hub.
pub fn not_registered() -> CliError {
    CliError::other(
        "this store is not connected to a hub yet; a lead runs `outreach hub register --hub URL`, other devices join with `outreach enrol`",
    )
}

/// Checks a device label: 1 to 64 bytes, no control characters. Labels are visible to the
/// hub, so the help asks for labels like "Van 2 phone A", never a person's name.
pub fn device_name(name: &str) -> CliResult<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_DEVICE_NAME {
        return Err(CliError::invalid(
            "--name",
            format!("must be 1 to {MAX_DEVICE_NAME} bytes (a label such as \"Van 2 phone A\", never a person's name)"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CliError::invalid(
            "--name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// `staff` / `lead` for a role (the protocol calls staff devices `member`).
pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Lead => "lead",
        Role::Member => "staff",
    }
}

/// Parses `staff` (or `member`) and `lead`.
pub fn parse_role(s: &str) -> CliResult<Role> {
    match s.trim().to_ascii_lowercase().as_str() {
        "staff" | "member" => Ok(Role::Member),
        "lead" => Ok(Role::Lead),
        _ => Err(CliError::invalid("--role", "allowed values: staff, lead")),
    }
}

/// Parses a duration such as `30m`, `24h` or `7d` into milliseconds (1 minute to 7 days).
pub fn parse_validity(s: &str) -> CliResult<i64> {
    let s = s.trim().to_ascii_lowercase();
    let rule = "a number followed by m, h or d (e.g. 30m, 24h, 7d), from 1 minute to 7 days";
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| CliError::invalid("--valid", rule))?;
    let ms = match unit {
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }
    .ok_or_else(|| CliError::invalid("--valid", rule))?;
    if !(60_000..=MAX_INVITE_MS).contains(&ms) {
        return Err(CliError::invalid("--valid", rule));
    }
    Ok(ms)
}

/// A transport that remembers the hub's answer to `/v1/devices`, so the CLI can show the
/// directory the core fetched and stored (the core has no getter for it yet).
struct Capture<'a> {
    inner: &'a dyn Transport,
    devices: RefCell<Option<Vec<u8>>>,
}

impl Transport for Capture<'_> {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        let (status, resp) = self.inner.post(path, body)?;
        if path == paths::DEVICES && status == 200 {
            *self.devices.borrow_mut() = Some(resp.clone());
        }
        Ok((status, resp))
    }
}

/// Fetches the team's device directory from the hub (and stores it in the store, as
/// `Store::refresh_devices` does). Sorted: leads first, then by enrolment time.
pub fn fetch_devices(
    ctx: &Context,
    store: &mut Store,
    transport: &dyn Transport,
) -> CliResult<DevicesResponse> {
    let capture = Capture {
        inner: transport,
        devices: RefCell::new(None),
    };
    store
        .refresh_devices(&capture)
        .map_err(|e| ctx.sync_err(e))?;
    let body = capture
        .devices
        .into_inner()
        .ok_or_else(|| CliError::other("the hub's device list could not be read; try again"))?;
    let mut dir: DevicesResponse = outreach_proto::encoding::decode_json(&body)
        .map_err(|_| CliError::other("the hub's device list could not be read; check that outreach and the hub are up to date"))?;
    dir.devices
        .sort_by_key(|d| (d.role != Role::Lead, d.enrolled_ms));
    Ok(dir)
}

/// Finds a device by its full id or a unique prefix of it (at least 4 hex digits).
pub fn find_device<'a>(devices: &'a [DeviceInfo], id: &str) -> CliResult<&'a DeviceInfo> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::invalid(
            "device id",
            "use the id shown by `outreach devices list` (at least its first 4 hex digits)",
        ));
    }
    let matches: Vec<&DeviceInfo> = devices
        .iter()
        .filter(|d| d.device_id.to_hex().starts_with(&id))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(CliError {
            exit: crate::errors::Exit::NotFound,
            message: "no device of this team has that id; see `outreach devices list`".into(),
        }),
        _ => Err(CliError::invalid(
            "device id",
            "more than one device starts with that; give more of the id (see `outreach devices list`)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        assert_eq!(parse_validity("24h").unwrap(), 86_400_000);
        assert_eq!(parse_validity("30m").unwrap(), 1_800_000);
        assert_eq!(parse_validity("7d").unwrap(), MAX_INVITE_MS);
        for bad in [
            "8d",
            "0h",
            "h",
            "24",
            "1s",
            "-1h",
            "99999999999999999999d",
            "",
        ] {
            assert!(parse_validity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_roles() {
        assert_eq!(device_name("  Van 2 phone A ").unwrap(), "Van 2 phone A");
        assert!(device_name("").is_err());
        assert!(device_name(&"x".repeat(65)).is_err());
        assert!(device_name("a\u{1b}[2J").is_err());
        assert_eq!(parse_role("staff").unwrap(), Role::Member);
        assert_eq!(parse_role("Lead").unwrap(), Role::Lead);
        assert!(parse_role("admin").is_err());
    }
}
