//! `outreach invite` (a lead makes a one-time invite, shown as a QR code) and `outreach enrol`
//! (a new device joins the team with it).
//!
//! The invite code holds the team key. It is printed to the terminal and nowhere else: never
//! written to a file, never logged, and never taken as a command-line argument (arguments stay
//! in shell history and show in process lists). `enrol` reads it from `OUTREACH_INVITE`,
//! standard input (`-`) or a no-echo prompt.

use chrono::{Duration, Utc};
use clap::Args;
use outreach_core::{Store, StoreOptions, Unlock};
use outreach_proto::invite::{InviteCode, INVITE_PREFIX};
use zeroize::Zeroizing;

use crate::context::{self, Context};
use crate::errors::{CliError, CliResult, Exit};
use crate::output::{self, emit};
use crate::remote;

/// Environment variable holding an invite code for `outreach enrol`.
pub const ENV_INVITE: &str = "OUTREACH_INVITE";

/// Options of `outreach invite`.
#[derive(Debug, Args)]
#[command(
    after_help = "Lead devices only. Prints a one-time invite as a QR code and as text. \
The invite holds the team key: show it in person only, to the new device's screen or camera; \
never photograph, send, paste or print it. It works once and expires (at most 7 days).\n\n\
Example:\n  outreach invite --role staff --valid 30m\n  outreach invite --role lead --valid 24h"
)]
pub struct InviteArgs {
    /// Role of the new device: staff (logs and syncs) or lead (also invites and revokes)
    #[arg(long, value_name = "ROLE", default_value = "staff")]
    role: String,
    /// How long the invite stays usable: e.g. 30m, 24h, 7d (at most 7 days)
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    valid: String,
    /// Print the code as text only, without the QR code
    #[arg(long)]
    no_qr: bool,
}

/// Options of `outreach enrol`.
#[derive(Debug, Args)]
#[command(
    after_help = "Creates a new encrypted store in --data-dir for this device, joined to \
the team of the invite. The invite is read from OUTREACH_INVITE, from standard input with `-`, or \
asked for without echo; it is never taken as an argument. A new passphrase is asked for twice \
(or read from OUTREACH_PASSPHRASE), at least 10 characters. The device name is visible to the hub \
and the team: use a label such as \"Van 2 phone A\", never a person's name.\n\n\
Example:\n  outreach --data-dir ~/outreach-van2 enrol --name \"Van 2 laptop\"\n  zbarcam --raw --oneshot | outreach enrol - --name \"Van 2 laptop\"   # scan the QR code with a webcam"
)]
pub struct EnrolArgs {
    /// `-` reads the invite from standard input; the code itself is never accepted here
    #[arg(value_name = "-", hide_possible_values = true)]
    source: Option<String>,
    /// This device's label, visible to the hub and the team (never a person's name)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

/// `outreach invite`.
pub fn invite(ctx: &Context, a: InviteArgs) -> CliResult {
    let role = remote::parse_role(&a.role)?;
    let valid_ms = remote::parse_validity(&a.valid)?;
    let mut store = ctx.open()?;
    let status = store.sync_status().map_err(|e| ctx.core(e))?;
    if !status.registered {
        return Err(remote::not_registered());
    }
    if store.sync_role().map_err(|e| ctx.core(e))? != outreach_core::sync::Role::Lead {
        return Err(CliError {
            exit: Exit::Refused,
            message: "only a lead device can invite; ask a team lead".into(),
        });
    }
    let transport = remote::store_transport(ctx, &store)?;
    let code = store
        .create_invite(&transport, role, valid_ms)
        .map_err(|e| ctx.sync_err(e))?;
    let off = store.settings().utc_offset_minutes;
    let until = output::stamp(Utc::now() + Duration::milliseconds(valid_ms), off);
    let mut out = Zeroizing::new(format!(
        "One-time invite for a new {} device of team {}.\n\
         SHOW IT IN PERSON ONLY: it holds the team key. Never photograph, send, paste or print it.\n\
         It works once and expires at {until} (in {}).\n",
        remote::role_name(role),
        status.team_id,
        a.valid.trim(),
    ));
    if !a.no_qr {
        out.push_str(&qr(&code)?);
    }
    out.push_str("On the new device: scan it in the app, or run `outreach enrol` and type this code when asked:\n");
    out.push_str(&code);
    out.push('\n');
    emit(&out)
}

/// The code as a QR code drawn with half-block characters (two module rows per text line),
/// light modules drawn, so that it reads on the usual dark terminal background.
fn qr(code: &str) -> CliResult<Zeroizing<String>> {
    use qrcode::render::unicode::Dense1x2;
    use qrcode::{EcLevel, QrCode};
    let q = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M).map_err(|_| {
        CliError::other("the invite is too long for a QR code; use a shorter hub address")
    })?;
    let mut s = Zeroizing::new(
        q.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    );
    s.push('\n');
    Ok(s)
}

/// `outreach enrol`.
pub fn enrol(ctx: &Context, a: EnrolArgs) -> CliResult {
    let from_stdin = match a.source.as_deref() {
        None => false,
        Some("-") => true,
        Some(_) => {
            return Err(CliError {
                exit: Exit::Usage,
                message: format!(
                    "the invite is secret and is never taken as an argument (it would stay in shell history); \
                     set {ENV_INVITE}, pass `-` to read it from standard input, or run `outreach enrol` to be asked for it, \
                     and ask the lead for a new invite if this one may have been seen"
                ),
            })
        }
    };
    if outreach_core::store_exists(ctx.dir()) {
        return Err(ctx.core(outreach_core::Error::AlreadyExists(ctx.dir().to_path_buf())));
    }
    let name = match a.name {
        Some(n) => remote::device_name(&n)?,
        None => match context::ask_line(
            "Name for this device (a label such as \"Van 2 laptop\", never a person's name): ",
        )? {
            Some(n) => remote::device_name(&n)?,
            None => {
                return Err(CliError::invalid(
                    "--name",
                    "is needed (a label such as \"Van 2 laptop\")",
                ))
            }
        },
    };
    let invite = if from_stdin {
        // The passphrase is then asked for on the terminal itself.
        context::stdin_is_data();
        context::secret_from_stdin("invite")?
    } else {
        context::secret(ENV_INVITE, "Invite code (no echo): ", "invite")?
    };
    if !invite.starts_with(INVITE_PREFIX) {
        return Err(CliError::invalid(
            "invite",
            format!("an invite starts with `{INVITE_PREFIX}`; copy the whole code the lead's screen shows"),
        ));
    }
    let code = InviteCode::decode(&invite).map_err(|_| {
        CliError::invalid(
            "invite",
            "the code is damaged or incomplete; copy the whole code the lead's screen shows",
        )
    })?;
    let hub_url = code.hub_url().to_string();
    let transport = remote::transport_for(&hub_url).map_err(|_| {
        CliError::invalid("invite", "its hub address is not usable (https:// needed)")
    })?;
    // Everything that can be checked is checked before the passphrase is asked for; the
    // invite is only used up once the hub answers.
    #[allow(clippy::needless_update)]
    let opts = StoreOptions {
        kdf: context::kdf_params()?,
        ..Default::default()
    };
    let pass = context::new_passphrase("outreach enrol")?;
    let mut store = Store::create_from_invite(
        ctx.dir(),
        Unlock::Passphrase(pass.as_bytes()),
        &invite,
        &name,
        &transport,
        &opts,
    )
    .map_err(|e| ctx.sync_err(e))?;
    drop(pass);
    drop(invite);
    if let Some(u) = &ctx.user {
        store.set_user(u).map_err(|e| ctx.core(e))?;
    }
    let status = store.sync_status().map_err(|e| ctx.core(e))?;
    let role = store.sync_role().map_err(|e| ctx.core(e))?;
    emit(&format!(
        "Enrolled this device as \"{}\" ({}) in team {} on {}\n  store:     {}\n  device id: {}\n\
         Next: outreach sync (the team's zones and records arrive with the first sync; a shift can start after it)\n",
        output::cell(&name),
        remote::role_name(role),
        status.team_id,
        output::cell(&hub_url),
        ctx.dir().display(),
        status.device_id,
    ))
}
