//! Computing a report from the projection tables.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::suppress::{suppress_linked, SuppressedTable};
use super::{Chart, Pos, Report, ReportOptions, Section, Table, MAX_RANGE_DAYS};
use crate::error::{Error, Result};
use crate::model::*;
use crate::store::Store;

/// Labels of a table axis: a controlled list first (so every value appears, even at 0), then
/// any value found in the data that the list does not know (a zone since removed from the
/// team's list, a value written by a newer version).
struct Axis {
    labels: Vec<String>,
    index: HashMap<String, usize>,
}

impl Axis {
    fn new<S: AsRef<str>>(labels: impl IntoIterator<Item = S>) -> Self {
        let mut a = Axis {
            labels: vec![],
            index: HashMap::new(),
        };
        for l in labels {
            a.idx(l.as_ref());
        }
        a
    }

    fn idx(&mut self, label: &str) -> usize {
        if let Some(i) = self.index.get(label) {
            return *i;
        }
        self.labels.push(label.to_string());
        self.index.insert(label.to_string(), self.labels.len() - 1);
        self.labels.len() - 1
    }
}

/// A table being counted.
struct Counter {
    rows: Axis,
    cols: Axis,
    cells: BTreeMap<(usize, usize), u64>,
    row_totals: bool,
    col_totals: bool,
}

impl Counter {
    fn new(rows: Axis, cols: Axis, row_totals: bool, col_totals: bool) -> Self {
        Counter {
            rows,
            cols,
            cells: BTreeMap::new(),
            row_totals,
            col_totals,
        }
    }

    fn add(&mut self, row: &str, col: &str, n: u64) {
        let (r, c) = (self.rows.idx(row), self.cols.idx(col));
        *self.cells.entry((r, c)).or_default() += n;
    }

    fn table(self) -> Table {
        let mut t = Table::zeros(
            self.rows.labels,
            self.cols.labels,
            self.row_totals,
            self.col_totals,
        );
        for ((r, c), n) in self.cells {
            t.cells[r][c] = n;
        }
        t
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn names<T: Copy>(all: &[T], f: impl Fn(&T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(f).collect()
}

/// The raw (unsuppressed) tables of a report and which of their cells hold the same value.
pub(crate) struct RawReport {
    pub(crate) meta: Vec<(&'static str, String, String, Chart)>,
    pub(crate) tables: Vec<Table>,
    pub(crate) links: Vec<Vec<(usize, Pos)>>,
}

impl Store {
    /// The anonymised report for the nights `from..=to`: every table with cells under
    /// `opts.threshold` hidden and secondary suppression applied. Audited (`report.create`).
    pub fn report(&self, from: NaiveDate, to: NaiveDate, opts: &ReportOptions) -> Result<Report> {
        let raw = self.raw_report(from, to, opts)?;
        let tables = suppress_linked(&raw.tables, &raw.links, opts.threshold);
        self.audit("report.create", "report", Some(&format!("{from}..{to}")))?;
        Ok(self.assemble(from, to, opts, true, raw.meta, tables))
    }

    /// The same report with **nothing hidden**, for the team lead's own review only. Never
    /// publish it. Every call writes the audit event `report.view_unsuppressed`.
    pub fn report_unsuppressed(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        opts: &ReportOptions,
    ) -> Result<Report> {
        let raw = self.raw_report(from, to, opts)?;
        self.audit(
            "report.view_unsuppressed",
            "report",
            Some(&format!("{from}..{to}")),
        )?;
        let tables = raw
            .tables
            .iter()
            .map(SuppressedTable::unsuppressed)
            .collect();
        Ok(self.assemble(from, to, opts, false, raw.meta, tables))
    }

    fn assemble(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        opts: &ReportOptions,
        anonymised: bool,
        meta: Vec<(&'static str, String, String, Chart)>,
        tables: Vec<SuppressedTable>,
    ) -> Report {
        Report {
            team: self.settings.team.clone(),
            from,
            to,
            anonymised,
            threshold: opts.threshold,
            reengage_days: opts.reengage_days,
            generated_at: Utc::now(),
            sections: meta
                .into_iter()
                .zip(tables)
                .map(|((id, title, note, chart), table)| Section {
                    id,
                    title,
                    note,
                    table,
                    chart,
                })
                .collect(),
        }
    }

    pub(crate) fn raw_report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        opts: &ReportOptions,
    ) -> Result<RawReport> {
        if to < from {
            return Err(Error::invalid("report.to", "must not be before --from"));
        }
        if (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(Error::invalid(
                "report.to",
                format!("a report covers at most {MAX_RANGE_DAYS} nights"),
            ));
        }
        if opts.threshold < super::DEFAULT_THRESHOLD {
            return Err(Error::invalid("report.threshold", "must be at least 5"));
        }
        if opts.reengage_days < 1 {
            return Err(Error::invalid("report.reengage_days", "must be at least 1"));
        }
        let (f, t) = (from.to_string(), to.to_string());
        let merges = self.merge_map()?;

        // ---- contacts ---------------------------------------------------------------------
        let nights: Vec<String> = from
            .iter_days()
            .take_while(|d| *d <= to)
            .map(|d| d.to_string())
            .collect();
        let mut by_night_zone = Counter::new(
            Axis::new(&nights),
            Axis::new(&self.settings.zones),
            true,
            true,
        );
        let mut by_setting = Counter::new(
            Axis::new(names(Setting::ALL, Setting::as_str)),
            Axis::new(["contacts"]),
            false,
            true,
        );
        let mut by_ident = Counter::new(
            Axis::new(["with_profile", "anonymous"]),
            Axis::new(["contacts"]),
            false,
            true,
        );
        {
            let mut st = self.conn.prepare_cached(
                "SELECT night, zone, setting, person_id FROM encounters WHERE night >= ?1 AND night <= ?2",
            )?;
            let rows = st.query_map([&f, &t], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            for r in rows {
                let (night, zone, setting, person) = r?;
                by_night_zone.add(&night, &zone, 1);
                by_setting.add(&setting, "contacts", 1);
                by_ident.add(
                    if person.is_some() {
                        "with_profile"
                    } else {
                        "anonymous"
                    },
                    "contacts",
                    1,
                );
            }
        }

        // ---- people (after merges) --------------------------------------------------------
        // Per canonical person: first night in range, and last night before the range.
        let mut first_in: HashMap<String, NaiveDate> = HashMap::new();
        let mut last_before: HashMap<String, NaiveDate> = HashMap::new();
        {
            let mut st = self
                .conn
                .prepare_cached("SELECT person_id, night FROM encounters WHERE person_id IS NOT NULL AND night <= ?1")?;
            let rows = st.query_map([&t], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for r in rows {
                let (pid, night) = r?;
                let night: NaiveDate = night
                    .parse()
                    .map_err(|_| Error::Document("bad night".into()))?;
                let c = merges.canonical(&pid);
                if night >= from {
                    let e = first_in.entry(c).or_insert(night);
                    *e = (*e).min(night);
                } else {
                    let e = last_before.entry(c).or_insert(night);
                    *e = (*e).max(night);
                }
            }
        }
        let mut people = Counter::new(
            Axis::new(["new", "returning", "re_engaged"]),
            Axis::new(["people"]),
            false,
            true,
        );
        for (pid, first) in &first_in {
            let kind = match last_before.get(pid) {
                None => "new",
                Some(prev) if (*first - *prev).num_days() >= opts.reengage_days => "re_engaged",
                Some(_) => "returning",
            };
            people.add(kind, "people", 1);
        }

        // ---- services -----------------------------------------------------------------------
        let mut services = Counter::new(
            Axis::new(names(Service::ALL, Service::as_str)),
            Axis::new(["items_given", "contacts"]),
            false,
            true,
        );
        {
            let mut st = self.conn.prepare_cached(
                "SELECT s.service, sum(s.qty), count(*) FROM encounter_services s JOIN encounters e ON e.id = s.encounter_id
                 WHERE e.night >= ?1 AND e.night <= ?2 GROUP BY s.service",
            )?;
            let rows = st.query_map([&f, &t], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for r in rows {
                let (svc, qty, n) = r?;
                services.add(&svc, "items_given", qty.max(0) as u64);
                services.add(&svc, "contacts", n.max(0) as u64);
            }
        }

        // ---- referrals ----------------------------------------------------------------------
        let mut referrals = Counter::new(
            Axis::new(names(ReferralDestination::ALL, ReferralDestination::as_str)),
            Axis::new(names(ReferralStatus::ALL, ReferralStatus::as_str)),
            true,
            true,
        );
        {
            let mut st = self.conn.prepare_cached(
                "SELECT r.destination, r.status, count(*) FROM referrals r JOIN encounters e ON e.id = r.encounter_id
                 WHERE e.night >= ?1 AND e.night <= ?2 GROUP BY r.destination, r.status",
            )?;
            let rows = st.query_map([&f, &t], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for r in rows {
                let (d, s, n) = r?;
                referrals.add(&d, &s, n.max(0) as u64);
            }
        }

        // ---- safeguarding concerns ------------------------------------------------------------
        let mut concerns = Counter::new(
            Axis::new(names(ConcernCategory::ALL, ConcernCategory::as_str)),
            Axis::new(["reviewed", "awaiting_review"]),
            true,
            true,
        );
        {
            let mut st = self.conn.prepare_cached(
                "SELECT category, reviewed, count(*) FROM concerns WHERE night >= ?1 AND night <= ?2 GROUP BY category, reviewed",
            )?;
            let rows = st.query_map([&f, &t], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for r in rows {
                let (c, reviewed, n) = r?;
                concerns.add(
                    &c,
                    if reviewed {
                        "reviewed"
                    } else {
                        "awaiting_review"
                    },
                    n.max(0) as u64,
                );
            }
        }

        // ---- incidents ----------------------------------------------------------------------
        let types = || Axis::new(names(IncidentType::ALL, IncidentType::as_str));
        let consents = || Axis::new(names(ShareConsent::ALL, ShareConsent::as_str));
        let mut inc_police = Counter::new(types(), consents(), true, true);
        let mut inc_national = Counter::new(types(), consents(), true, true);
        let mut inc_reported = Counter::new(
            types(),
            Axis::new(["reported_to_police", "not_reported"]),
            true,
            true,
        );
        // Actual shares: an incident counts as shared with a recipient when its disclosure log
        // holds at least one share with it (as the log stands now, like referral outcomes).
        let mut inc_shared_police = Counter::new(
            types(),
            Axis::new(["shared_with_police", "not_shared"]),
            true,
            true,
        );
        let mut inc_shared_national = Counter::new(
            types(),
            Axis::new(["shared_with_national_scheme", "not_shared"]),
            true,
            true,
        );
        {
            let mut st = self.conn.prepare_cached(
                "SELECT kind, share_police, share_national, data FROM incidents WHERE night >= ?1 AND night <= ?2",
            )?;
            let rows = st.query_map([&f, &t], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for r in rows {
                let (kind, police, national, data) = r?;
                let i: Incident = serde_json::from_str(&data)?;
                inc_police.add(&kind, &police, 1);
                inc_national.add(&kind, &national, 1);
                inc_reported.add(
                    &kind,
                    if i.input.police_reported {
                        "reported_to_police"
                    } else {
                        "not_reported"
                    },
                    1,
                );
                let shared = |who: ShareRecipient| i.disclosures.values().any(|d| d.recipient == who);
                inc_shared_police.add(
                    &kind,
                    if shared(ShareRecipient::Police) {
                        "shared_with_police"
                    } else {
                        "not_shared"
                    },
                    1,
                );
                inc_shared_national.add(
                    &kind,
                    if shared(ShareRecipient::National) {
                        "shared_with_national_scheme"
                    } else {
                        "not_shared"
                    },
                    1,
                );
            }
        }

        // ---- alerts -------------------------------------------------------------------------
        let mut alerts = Counter::new(
            Axis::new(names(Risk::ALL, Risk::as_str)),
            Axis::new(["alerts_issued"]),
            false,
            true,
        );
        {
            let mut st = self
                .conn
                .prepare_cached("SELECT risk, created_at FROM alerts")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for r in rows {
                let (risk, at) = r?;
                if let Some(at) = parse_time(&at) {
                    let night = night_of(at, self.settings.utc_offset_minutes);
                    if night >= from && night <= to {
                        alerts.add(&risk, "alerts_issued", 1);
                    }
                }
            }
        }

        let tables = vec![
            by_night_zone.table(),
            by_setting.table(),
            by_ident.table(),
            people.table(),
            services.table(),
            referrals.table(),
            concerns.table(),
            inc_police.table(),
            inc_national.table(),
            inc_reported.table(),
            inc_shared_police.table(),
            inc_shared_national.table(),
            alerts.table(),
        ];
        let s = |x: &str| x.to_string();
        let meta = vec![
            ("contacts_by_night_zone", s("Contacts per night and zone"), s("Encounters logged, by the night they belong to and the zone."), Chart::RowAndColumnTotals),
            ("contacts_by_setting", s("Contacts per setting"), s("Encounters by the setting they happened in."), Chart::Column(0)),
            ("contacts_by_identification", s("Contacts with a profile and anonymous contacts"), s("Anonymous contacts have no person profile and are not in the people counts."), Chart::Column(0)),
            ("people", s("Unique people (after merges)"), format!("People with a profile seen in the range, each counted once after merges. New: first ever contact in the range. Re-engaged: back after {} or more days without contact. Returning: everyone else seen before.", opts.reengage_days), Chart::Column(0)),
            ("services", s("Services given"), s("Items given per service (sum of counts) and the number of contacts in which each was given."), Chart::Column(1)),
            ("referrals", s("Referrals by destination and status"), s("Referrals made in encounters in the range, by where they stand now."), Chart::RowTotals),
            ("concerns", s("Safeguarding concerns"), s("Concerns recorded in the range, by category and whether a lead has reviewed them."), Chart::RowTotals),
            ("incidents_police_consent", s("Incidents: consent to share with the police"), s("Violence and crime incidents in the range by type and consent to share with the police."), Chart::RowTotals),
            ("incidents_national_consent", s("Incidents: consent to share with the national reporting scheme"), s("The same incidents by consent to share with the national scheme."), Chart::RowTotals),
            ("incidents_police_reported", s("Incidents reported to the police"), s("The same incidents by whether they were reported to the police."), Chart::Column(0)),
            ("incidents_shared_police", s("Incidents shared with the police"), s("The same incidents by whether the team has logged a share of them with the police (a disclosure, as the log stands now)."), Chart::Column(0)),
            ("incidents_shared_national", s("Incidents shared with the national reporting scheme"), s("The same incidents by whether the team has logged a share of them with the national reporting scheme."), Chart::Column(0)),
            ("alerts", s("Alerts issued"), s("Dangerous-individual alerts issued in the range, by risk."), Chart::Column(0)),
        ];
        // Cells holding the same value in several tables must be hidden together.
        let grand = |ti: usize| {
            let tb: &Table = &tables[ti];
            if tb.row_totals {
                Pos::new(tb.rows(), tb.cols())
            } else {
                Pos::new(tb.rows(), 0)
            }
        };
        let mut links = vec![vec![(0, grand(0)), (1, grand(1)), (2, grand(2))]];
        // The five incident tables share their per-type totals (and grand total).
        let incident_tables = [7, 8, 9, 10, 11];
        for i in 0..=tables[7].rows() {
            links.push(
                incident_tables
                    .iter()
                    .map(|&ti| (ti, Pos::new(i, tables[ti].cols())))
                    .collect(),
            );
        }
        Ok(RawReport {
            meta,
            tables,
            links,
        })
    }
}
