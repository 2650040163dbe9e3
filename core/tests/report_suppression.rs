//! Small-number suppression, property-tested.
//!
//! For random tables: (a) no published value is 1..=4; (b) no row or column has exactly one
//! hidden cell unless its total is hidden too (and no line — cells plus total — has exactly one
//! hidden entry); (c) on small tables, an exhaustive solver finds, for every hidden value, a
//! second value consistent with everything published (non-negative integers, every published
//! cell and total): no hidden value can be worked out.

use outreach_core::report::suppress::{
    hidden_set, suppress, suppress_linked, suppress_with, Cell, Pos, SuppressedTable, Table,
};
use proptest::prelude::*;

const T: u64 = 5;

fn value_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 3 => 1u64..5, 2 => 5u64..12, 1 => 12u64..40]
}

/// Smaller values for the exhaustive solver (its search grows with the totals).
fn small_value_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 3 => 1u64..5, 2 => 5u64..10]
}

fn table_strategy(max_rows: usize, max_cols: usize) -> impl Strategy<Value = Table> {
    table_strategy_of(max_rows, max_cols, value_strategy)
}

fn table_strategy_of<S: Strategy<Value = u64> + 'static>(
    max_rows: usize,
    max_cols: usize,
    values: fn() -> S,
) -> impl Strategy<Value = Table> {
    (
        1..=max_rows,
        1..=max_cols,
        any::<bool>(),
        any::<bool>(),
        0u8..4,
    )
        .prop_flat_map(move |(r, c, rt, ct, kind)| {
            // Mostly two-way tables (the hard case), some one-way and some without totals.
            let (rt, ct) = match kind {
                0 | 1 => (true, true),
                _ => (rt, ct),
            };
            proptest::collection::vec(proptest::collection::vec(values(), c), r)
                .prop_map(move |cells| Table::from_grid(cells, rt, ct))
        })
}

/// (a) and (b), and what must always hold: published values are the true ones, only non-zero
/// values are hidden.
fn check_published(t: &Table, s: &SuppressedTable) -> Result<(), TestCaseError> {
    for p in t.positions() {
        let c = s
            .get(p)
            .expect("every position of the table is published or hidden");
        match c {
            Cell::Value(v) => {
                prop_assert_eq!(v, t.value(p), "published value differs at {:?}", p);
                prop_assert!(v == 0 || v >= T, "published small value {} at {:?}", v, p);
            }
            Cell::Suppressed => prop_assert!(t.value(p) > 0, "a zero was hidden at {:?}", p),
        }
    }
    for line in t.lines() {
        let hidden: Vec<Pos> = line
            .iter()
            .copied()
            .filter(|p| s.get(*p).unwrap().is_suppressed())
            .collect();
        let total = *line.last().unwrap();
        let cells_hidden = hidden.iter().filter(|p| **p != total).count();
        let total_hidden = hidden.contains(&total);
        prop_assert!(
            cells_hidden == 0 || cells_hidden >= 2 || total_hidden,
            "line {:?} has one hidden cell and a published total",
            line
        );
        prop_assert!(
            hidden.len() != 1,
            "line {:?} has exactly one hidden entry",
            line
        );
    }
    Ok(())
}

/// Exhaustive search: is there an assignment of non-negative integers to the hidden cells,
/// consistent with every published cell and total, in which `target` differs from its true
/// value? Hidden totals follow from the hidden cells. Search is depth-first, trying values
/// near the true ones first, with pruning on published line totals, and a node budget.
struct Solver<'a> {
    t: &'a Table,
    s: &'a SuppressedTable,
    unknown: Vec<Pos>,
    assign: Vec<Vec<u64>>,
    cap: u64,
    nodes: u64,
}

const BUDGET: u64 = 20_000_000;

impl<'a> Solver<'a> {
    fn new(t: &'a Table, s: &'a SuppressedTable) -> Self {
        let mut unknown = vec![];
        let mut assign = t.cells.clone();
        for (i, row) in assign.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                if s.cells[i][j].is_suppressed() {
                    unknown.push(Pos::new(i, j));
                    *cell = 0;
                }
            }
        }
        let cap = t.value(Pos::new(t.rows(), t.cols())) + 2;
        Solver {
            t,
            s,
            unknown,
            assign,
            cap,
            nodes: 0,
        }
    }

    fn published(&self, p: Pos) -> Option<u64> {
        self.s.get(p).and_then(|c| c.value())
    }

    fn row_sum(&self, i: usize) -> u64 {
        self.assign[i].iter().sum()
    }

    fn col_sum(&self, j: usize) -> u64 {
        self.assign.iter().map(|r| r[j]).sum()
    }

    fn grand(&self) -> u64 {
        self.assign.iter().flatten().sum()
    }

    /// Partial check after assigning unknown `k` (unknowns after k are still 0, so sums are
    /// lower bounds; a line is exact once its last unknown is assigned).
    fn consistent(&self, k: usize) -> bool {
        let (r, c) = (self.t.rows(), self.t.cols());
        let done = |pred: &dyn Fn(&Pos) -> bool| !self.unknown[k + 1..].iter().any(pred);
        let p = self.unknown[k];
        if self.t.row_totals {
            if let Some(v) = self.published(Pos::new(p.row, c)) {
                let s = self.row_sum(p.row);
                if s > v || (done(&|q: &Pos| q.row == p.row) && s != v) {
                    return false;
                }
            }
        }
        if self.t.col_totals {
            if let Some(v) = self.published(Pos::new(r, p.col)) {
                let s = self.col_sum(p.col);
                if s > v || (done(&|q: &Pos| q.col == p.col) && s != v) {
                    return false;
                }
            }
        }
        if self.t.row_totals && self.t.col_totals {
            if let Some(v) = self.published(Pos::new(r, c)) {
                let s = self.grand();
                if s > v || (k + 1 == self.unknown.len() && s != v) {
                    return false;
                }
            }
        }
        true
    }

    fn value_at(&self, p: Pos) -> u64 {
        let (r, c) = (self.t.rows(), self.t.cols());
        match (p.row < r, p.col < c) {
            (true, true) => self.assign[p.row][p.col],
            (true, false) => self.row_sum(p.row),
            (false, true) => self.col_sum(p.col),
            (false, false) => self.grand(),
        }
    }

    /// Values to try for unknown `k`: the true one first, then outwards.
    fn candidates(&self, k: usize, target: Pos) -> Vec<u64> {
        let p = self.unknown[k];
        let truth = self.t.value(p);
        let mut v = vec![];
        for d in 0..=self.cap {
            if let Some(x) = truth.checked_add(d) {
                if x <= self.cap {
                    v.push(x);
                }
            }
            if d > 0 && d <= truth {
                v.push(truth - d);
            }
        }
        if p == target {
            v.retain(|x| *x != truth);
        }
        v
    }

    fn search(&mut self, k: usize, target: Pos) -> bool {
        self.nodes += 1;
        assert!(self.nodes < BUDGET, "solver budget exceeded");
        if k == self.unknown.len() {
            return self.value_at(target) != self.t.value(target);
        }
        let p = self.unknown[k];
        for x in self.candidates(k, target) {
            self.assign[p.row][p.col] = x;
            if self.consistent(k) && self.search(k + 1, target) {
                return true;
            }
        }
        self.assign[p.row][p.col] = 0;
        false
    }

    /// Whether `target` (hidden) can take another value than its true one.
    fn ambiguous(t: &Table, s: &SuppressedTable, target: Pos) -> bool {
        let mut solver = Solver::new(t, s);
        // The target first (if it is an inner cell): its alternatives are tried at the root.
        if let Some(i) = solver.unknown.iter().position(|p| *p == target) {
            let p = solver.unknown.remove(i);
            solver.unknown.insert(0, p);
        }
        solver.search(0, target)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn published_cells_are_never_small_and_lines_never_have_one_hidden(t in table_strategy(12, 8)) {
        let s = suppress(&t);
        check_published(&t, &s)?;
    }

    #[test]
    fn no_hidden_value_is_recoverable_from_published_cells_and_totals(t in table_strategy_of(3, 4, small_value_strategy)) {
        let s = suppress(&t);
        check_published(&t, &s)?;
        for p in s.suppressed_positions() {
            prop_assert!(Solver::ambiguous(&t, &s, p), "hidden value at {:?} is determined by the published table {:?}", p, s);
        }
    }

    #[test]
    fn a_higher_threshold_hides_more(t in table_strategy(6, 6)) {
        let s = suppress_with(&t, 8, &[]);
        for p in t.positions() {
            if let Some(Cell::Value(v)) = s.get(p) {
                prop_assert!(v == 0 || v >= 8);
            }
        }
        // Everything hidden at 5 is hidden at 8 only if it is small; at least the small ones are.
        for p in t.positions() {
            let v = t.value(p);
            if v > 0 && v < 8 {
                prop_assert!(s.get(p).unwrap().is_suppressed());
            }
        }
    }

    #[test]
    fn linked_tables_hide_shared_totals_together(a in table_strategy(4, 3), extra in proptest::collection::vec(value_strategy(), 1..4)) {
        // Table b has the same row totals as a (same rows, different split).
        let mut a = a;
        a.row_totals = true;
        a.col_totals = true;
        let rows: Vec<Vec<u64>> = a.cells.iter().enumerate().map(|(i, r)| {
            let total: u64 = r.iter().sum();
            let first = extra[i % extra.len()].min(total);
            vec![first, total - first]
        }).collect();
        let b = Table::from_grid(rows, true, true);
        let mut links = vec![];
        for i in 0..=a.rows() {
            links.push(vec![(0, Pos::new(i, a.cols())), (1, Pos::new(i, b.cols()))]);
        }
        let out = suppress_linked(&[a.clone(), b.clone()], &links, 5);
        check_published(&a, &out[0])?;
        check_published(&b, &out[1])?;
        for group in &links {
            let hidden: Vec<bool> = group.iter().map(|(ti, p)| out[*ti].get(*p).unwrap().is_suppressed()).collect();
            prop_assert!(hidden.iter().all(|h| *h) || hidden.iter().all(|h| !*h), "shared total hidden in one table only");
        }
    }
}

#[test]
fn a_single_small_cell_takes_a_complement_in_its_row_and_column() {
    // 3 is hidden; its row and column each need a second hidden cell; the smallest non-zero
    // ones are picked, and the table stays consistent.
    let t = Table::from_grid(
        vec![vec![3, 10, 20], vec![9, 30, 40], vec![12, 50, 60]],
        true,
        true,
    );
    let s = suppress(&t);
    assert!(s.cells[0][0].is_suppressed());
    assert!(s.cells[0][1].is_suppressed(), "{s:?}");
    assert!(s.cells[1][0].is_suppressed(), "{s:?}");
    assert!(s.cells[1][1].is_suppressed(), "{s:?}");
    assert_eq!(s.grand_total, Some(Cell::Value(234)));
    for p in s.suppressed_positions() {
        assert!(Solver::ambiguous(&t, &s, p));
    }
}

#[test]
fn zeros_are_published_and_a_table_without_small_values_is_untouched() {
    let t = Table::from_grid(vec![vec![0, 10], vec![7, 0]], true, true);
    let s = suppress(&t);
    assert!(!s.any_suppressed());
    assert_eq!(s.cells[0][0], Cell::Value(0));
    assert_eq!(
        SuppressedTable::unsuppressed(&t).cells[1][0],
        Cell::Value(7)
    );
}

#[test]
fn a_small_total_is_hidden_with_its_cells() {
    // One-way table (a list with a total): 2 + 1 = 3, everything non-zero is small.
    let t = Table::from_grid(vec![vec![2], vec![0], vec![1]], false, true);
    let s = suppress(&t);
    assert_eq!(s.cells[1][0], Cell::Value(0));
    assert!(s.cells[0][0].is_suppressed() && s.cells[2][0].is_suppressed());
    assert!(s.col_totals.as_ref().unwrap()[0].is_suppressed());
}

#[test]
fn big_sparse_tables_are_fast() {
    // A year of nights by 20 zones.
    let mut x: u64 = 0x5eed;
    let cells: Vec<Vec<u64>> = (0..366)
        .map(|_| {
            (0..20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match x % 10 {
                        0..=5 => 0,
                        6..=8 => x % 5,
                        _ => 5 + x % 30,
                    }
                })
                .collect()
        })
        .collect();
    let t = Table::from_grid(cells, true, true);
    let start = std::time::Instant::now();
    let h = hidden_set(&t, 5, &[]);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert!(!h.is_empty());
    let s = suppress(&t);
    for line in t.lines() {
        assert_ne!(
            line.iter()
                .filter(|p| s.get(**p).unwrap().is_suppressed())
                .count(),
            1
        );
    }
}

/// Negative controls: the solver does find values that naive patterns leave recoverable, so
/// the property above is not passing vacuously.
#[test]
fn the_solver_catches_recoverable_patterns() {
    // Primary suppression only: 3 = row total − 10.
    let t = Table::from_grid(vec![vec![3, 10], vec![10, 10]], true, true);
    let mut s = SuppressedTable::unsuppressed(&t);
    s.cells[0][0] = Cell::Suppressed;
    assert!(!Solver::ambiguous(&t, &s, Pos::new(0, 0)));

    // Every line has two hidden cells, yet the cell joining two separate 4-cycles is a bridge
    // of the hidden-cell graph and is determined by the sums. The real suppression never
    // leaves such a pattern.
    let t = Table::from_grid(
        vec![
            vec![6, 7, 8, 9],
            vec![7, 6, 9, 8],
            vec![9, 8, 6, 7],
            vec![8, 9, 7, 6],
        ],
        true,
        true,
    );
    let mut s = SuppressedTable::unsuppressed(&t);
    for (i, j) in [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
        (2, 2),
        (2, 3),
        (3, 2),
        (3, 3),
        (0, 2),
    ] {
        s.cells[i][j] = Cell::Suppressed;
    }
    assert!(Solver::ambiguous(&t, &s, Pos::new(0, 0)));
    assert!(
        !Solver::ambiguous(&t, &s, Pos::new(0, 2)),
        "the bridge is recoverable"
    );
    // Primary suppression that starts the same way ends with no recoverable cell.
    let t = Table::from_grid(
        vec![
            vec![1, 2, 30, 40],
            vec![2, 1, 50, 60],
            vec![30, 50, 1, 2],
            vec![40, 60, 2, 1],
        ],
        true,
        true,
    );
    let s = suppress(&t);
    for p in s.suppressed_positions() {
        assert!(Solver::ambiguous(&t, &s, p), "{p:?} recoverable in {s:?}");
    }
}

/// Joint solver for two tables over the same rows whose row totals are equal (as the incident
/// tables are): can a hidden value of either table take another value, given everything
/// published in both and the equality of their row totals?
struct Joint<'a> {
    t: [&'a Table; 2],
    s: [&'a SuppressedTable; 2],
    unknown: Vec<(usize, Pos)>,
    assign: [Vec<Vec<u64>>; 2],
    cap: u64,
    nodes: u64,
}

impl<'a> Joint<'a> {
    fn new(t: [&'a Table; 2], s: [&'a SuppressedTable; 2]) -> Self {
        let mut unknown = vec![];
        let mut assign = [t[0].cells.clone(), t[1].cells.clone()];
        for k in 0..2 {
            for (i, row) in assign[k].iter_mut().enumerate() {
                for (j, cell) in row.iter_mut().enumerate() {
                    if s[k].cells[i][j].is_suppressed() {
                        unknown.push((k, Pos::new(i, j)));
                        *cell = 0;
                    }
                }
            }
        }
        let cap = t[0].value(Pos::new(t[0].rows(), t[0].cols())) + 2;
        Joint {
            t,
            s,
            unknown,
            assign,
            cap,
            nodes: 0,
        }
    }

    fn value_at(&self, k: usize, p: Pos) -> u64 {
        let (r, c) = (self.t[k].rows(), self.t[k].cols());
        let a = &self.assign[k];
        match (p.row < r, p.col < c) {
            (true, true) => a[p.row][p.col],
            (true, false) => a[p.row].iter().sum(),
            (false, true) => a.iter().map(|x| x[p.col]).sum(),
            (false, false) => a.iter().flatten().sum(),
        }
    }

    /// After assigning unknown `idx`: partial sums never exceed a published total, and every
    /// line whose last unknown this was holds exactly (rows: in both tables, equal totals).
    fn ok(&self, idx: usize) -> bool {
        let last = |pred: &dyn Fn(&(usize, Pos)) -> bool| self.unknown.iter().rposition(pred);
        let (k, p) = self.unknown[idx];
        let published = |k: usize, q: Pos| self.s[k].get(q).and_then(|c| c.value());
        // The row of p, in both tables.
        let row_done = last(&|u: &(usize, Pos)| u.1.row == p.row) == Some(idx);
        let mut sums = [0u64; 2];
        for (kk, sum) in sums.iter_mut().enumerate() {
            let q = Pos::new(p.row, self.t[kk].cols());
            *sum = self.value_at(kk, q);
            if let Some(v) = published(kk, q) {
                if *sum > v || (row_done && *sum != v) {
                    return false;
                }
            }
        }
        if row_done && sums[0] != sums[1] {
            return false;
        }
        // The column of p, in its table.
        let col_done = last(&|u: &(usize, Pos)| u.0 == k && u.1.col == p.col) == Some(idx);
        let q = Pos::new(self.t[k].rows(), p.col);
        if let Some(v) = published(k, q) {
            let x = self.value_at(k, q);
            if x > v || (col_done && x != v) {
                return false;
            }
        }
        // Grand totals.
        let leaf = idx + 1 == self.unknown.len();
        for kk in 0..2 {
            let q = Pos::new(self.t[kk].rows(), self.t[kk].cols());
            if let Some(v) = published(kk, q) {
                let x = self.value_at(kk, q);
                if x > v || (leaf && x != v) {
                    return false;
                }
            }
        }
        true
    }

    fn search(&mut self, idx: usize, target: (usize, Pos)) -> bool {
        self.nodes += 1;
        assert!(self.nodes < 5_000_000, "joint solver budget exceeded");
        if idx == self.unknown.len() {
            return self.value_at(target.0, target.1) != self.t[target.0].value(target.1);
        }
        let (k, p) = self.unknown[idx];
        let truth = self.t[k].value(p);
        let mut vals = vec![];
        for d in 0..=self.cap {
            if truth + d <= self.cap {
                vals.push(truth + d);
            }
            if d > 0 && d <= truth {
                vals.push(truth - d);
            }
        }
        if (k, p) == target {
            vals.retain(|x| *x != truth);
        }
        for x in vals {
            self.assign[k][p.row][p.col] = x;
            if self.ok(idx) && self.search(idx + 1, target) {
                return true;
            }
        }
        self.assign[k][p.row][p.col] = 0;
        false
    }

    fn ambiguous(t: [&Table; 2], s: [&SuppressedTable; 2], target: (usize, Pos)) -> bool {
        let mut j = Joint::new(t, s);
        if let Some(i) = j.unknown.iter().position(|u| *u == target) {
            let u = j.unknown.remove(i);
            j.unknown.insert(0, u);
        }
        j.search(0, target)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn linked_tables_reveal_nothing_jointly(
        cells in (1usize..=3, 1usize..=3).prop_flat_map(|(r, c)| proptest::collection::vec(proptest::collection::vec(small_value_strategy(), c), r)),
        split in proptest::collection::vec(small_value_strategy(), 3),
    ) {
        let a = Table::from_grid(cells, true, true);
        let rows: Vec<Vec<u64>> = a.cells.iter().enumerate().map(|(i, r)| {
            let total: u64 = r.iter().sum();
            let first = split[i].min(total);
            vec![first, total - first]
        }).collect();
        let b = Table::from_grid(rows, true, true);
        let mut links = vec![];
        for i in 0..=a.rows() {
            links.push(vec![(0, Pos::new(i, a.cols())), (1, Pos::new(i, b.cols()))]);
        }
        let out = suppress_linked(&[a.clone(), b.clone()], &links, 5);
        for k in 0..2 {
            for p in out[k].suppressed_positions() {
                prop_assert!(
                    Joint::ambiguous([&a, &b], [&out[0], &out[1]], (k, p)),
                    "table {} hidden {:?} is determined jointly: a={:?} b={:?} out={:?}", k, p, a.cells, b.cells, out
                );
            }
        }
    }
}

#[test]
fn tables_sharing_totals_leak_unless_suppressed_together() {
    // b splits the same row totals as a. Suppressed one by one, b hides its row totals but a
    // publishes them, so b's hidden cell (0, 1) = 5 − 0 is recoverable; suppressed together,
    // nothing is.
    let a = Table::from_grid(vec![vec![5], vec![6]], true, true);
    let b = Table::from_grid(vec![vec![0, 5], vec![5, 1]], true, true);
    let alone = [suppress(&a), suppress(&b)];
    assert!(!Joint::ambiguous(
        [&a, &b],
        [&alone[0], &alone[1]],
        (1, Pos::new(0, 1))
    ));
    let links: Vec<Vec<(usize, Pos)>> = (0..=2)
        .map(|i| vec![(0, Pos::new(i, 1)), (1, Pos::new(i, 2))])
        .collect();
    let linked = suppress_linked(&[a.clone(), b.clone()], &links, 5);
    assert!(linked[0]
        .row_totals
        .as_ref()
        .unwrap()
        .iter()
        .all(|c| c.is_suppressed()));
    for k in 0..2 {
        for p in linked[k].suppressed_positions() {
            assert!(
                Joint::ambiguous([&a, &b], [&linked[0], &linked[1]], (k, p)),
                "{k} {p:?}"
            );
        }
    }
}
