//! The lead's decision on a dangerous-individual alert that is due for review.
//!
//! Retention never deletes an alert by itself (a missing warning is the greater risk):
//! [`Store::alerts_due_for_review`] puts it on the lead's morning list once it passes its own
//! review date, or `alert_review_days` after it was issued. The lead then either
//! - **keeps** it for another period ([`Store::keep_alert`]): its review date moves forward, in
//!   one synced change of the alert's own document, audited `alert.keep`; or
//! - **withdraws** it ([`Store::withdraw_alert`]): the alert's document is crypto-shredded on
//!   every device and on the hub, like any retention purge (a signed shred order with
//!   [`ShredReason::Retention`]), audited `alert.withdraw`. Its identifiers stop matching
//!   everywhere at each device's next sync.

use chrono::{Duration, NaiveDate, Utc};
use outreach_proto::orders::ShredReason;

use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::model::{check_id, Alert};
use crate::projection::{self, Target};
use crate::store::Store;
use crate::sync::{ShredOutcome, Transport};

/// How far ahead a kept alert's next review may be set.
pub const MAX_KEEP_DAYS: i64 = 3 * 366;

impl Store {
    /// Keeps an alert for another period: sets its review date to `until` (after today, at
    /// most [`MAX_KEEP_DAYS`] ahead). Lead only; one synced change of the alert's document,
    /// audited `alert.keep`. Returns the alert as now stored.
    pub fn keep_alert(&mut self, id: &str, until: NaiveDate) -> Result<Alert> {
        check_id("alert.id", id)?;
        self.require_lead("keep an alert under review")?;
        let today = Utc::now().date_naive();
        if until <= today || until > today + Duration::days(MAX_KEEP_DAYS) {
            return Err(Error::invalid("alert.review", "must be after today and at most three years ahead"));
        }
        let doc_id = self.doc_of("alerts", "alert", id)?;
        let date = until.to_string();
        self.change(
            &doc_id,
            DocKind::Alert,
            false,
            |tx| {
                let m = doc::root_map(tx, "alert")?;
                // reconcile_map brings the whole map to the given state: start from what is
                // stored so that only the review date is written.
                let mut current = match doc::read_json(tx, &m)? {
                    serde_json::Value::Object(map) => map,
                    _ => return Err(Error::Document("an alert document without its alert map".into())),
                };
                current.insert("review".into(), serde_json::Value::String(date.clone()));
                doc::reconcile_map(tx, &m, &current)?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Alert, d, Target::All, s),
            &[("alert.keep", "alert", Some(id))],
        )?;
        let data: String = self.conn.prepare_cached("SELECT data FROM alerts WHERE id = ?1")?.query_row([id], |r| r.get(0))?;
        Ok(serde_json::from_str(&data)?)
    }

    /// Withdraws an alert for the whole team: its document is crypto-shredded on every device
    /// and on the hub ([`ShredReason::Retention`]). Lead only, needs the hub (nothing is
    /// withdrawn offline: [`Error::Network`]). Audited `alert.withdraw`.
    pub fn withdraw_alert(&mut self, transport: &dyn Transport, id: &str) -> Result<ShredOutcome> {
        check_id("alert.id", id)?;
        self.require_lead("withdraw an alert")?;
        let doc_id = self.doc_of("alerts", "alert", id)?;
        let out = self.shred_docs(transport, &[doc_id], ShredReason::Retention)?;
        self.audit("alert.withdraw", "alert", Some(id))?;
        Ok(out)
    }
}
