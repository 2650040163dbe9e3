//! Small-number suppression for anonymised tables.
//!
//! A [`Table`] is a 2-D grid of counts with optional row totals (a total column) and optional
//! column totals (a total row); with both it also has a grand total. Totals are cells too.
//!
//! [`suppress`] hides:
//! 1. **primary**: every cell, total included, whose value is 1..threshold (1..=4 for the
//!    default threshold of 5). Zero is published as 0 (see below);
//! 2. **secondary** (complementary), repeated until nothing changes:
//!    - every *line* (a row with its row total, a column with its column total, the total row,
//!      the total column) that has exactly one hidden entry gets its smallest non-zero visible
//!      entry hidden too, so no hidden value equals "total minus the visible cells";
//!    - in a table with both totals, the hidden cells form a graph (nodes = lines, an edge per
//!      hidden cell joining its row line and its column line). A hidden cell that is a *bridge*
//!      of that graph is still determined by the published values (the lines on one side of it
//!      add up to it), even though every line has two hidden entries. Every bridge is put on a
//!      cycle by hiding the smallest non-zero visible cell joining its two sides (if there is
//!      none, every non-zero cell of the table is hidden, which is always safe).
//!
//! Only non-zero values are ever hidden. With every hidden value at least 1 and every hidden
//! cell on a cycle (or, in a one-way table, sharing its single line with another hidden entry),
//! each hidden value can move by ±1 along that cycle while every published value and total
//! stays the same and every value stays non-negative: no hidden value can be derived, by linear
//! equations or by non-negativity, from what is published. `core/tests/report_suppression.rs`
//! checks this with an exhaustive solver on random small tables.
//!
//! **Zero is shown as 0.** A zero describes nobody, and a report lists every value of every
//! controlled list and every night, so most cells of a small team's table are 0: hiding them
//! would blank most of the report and, worse, hiding only *some* zeros would let a reader tell
//! hidden small numbers from hidden zeros. The residual risk of published zeros is *group*
//! disclosure (a row whose whole total sits in one column says everyone in that row shares that
//! column's attribute); rows are controlled-list values, not individuals, and any such row
//! total under 5 is itself hidden.
//!
//! Tables that share totals (e.g. the grand total of contacts) are suppressed together with
//! [`suppress_linked`]: a shared total hidden in one table is hidden in all of them.

use serde::Serialize;

/// The default threshold: values 1..=4 are hidden.
pub const DEFAULT_THRESHOLD: u64 = 5;

/// A position in a table's extended grid: `row == rows()` is the total row, `col == cols()` the
/// total column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    /// Row index (or `rows()` for the total row).
    pub row: usize,
    /// Column index (or `cols()` for the total column).
    pub col: usize,
}

impl Pos {
    /// Shorthand.
    pub fn new(row: usize, col: usize) -> Self {
        Pos { row, col }
    }
}

/// A table of counts before suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Row labels.
    pub row_labels: Vec<String>,
    /// Column labels.
    pub col_labels: Vec<String>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<u64>>,
    /// Whether each row has a total (a "Total" column).
    pub row_totals: bool,
    /// Whether each column has a total (a "Total" row).
    pub col_totals: bool,
}

impl Table {
    /// A table of zeros with the given labels.
    pub fn zeros(
        row_labels: Vec<String>,
        col_labels: Vec<String>,
        row_totals: bool,
        col_totals: bool,
    ) -> Self {
        let cells = vec![vec![0; col_labels.len()]; row_labels.len()];
        Table {
            row_labels,
            col_labels,
            cells,
            row_totals,
            col_totals,
        }
    }

    /// A table straight from a grid, with generated labels (tests).
    pub fn from_grid(cells: Vec<Vec<u64>>, row_totals: bool, col_totals: bool) -> Self {
        let cols = cells.first().map(|r| r.len()).unwrap_or(0);
        Table {
            row_labels: (0..cells.len()).map(|i| format!("r{i}")).collect(),
            col_labels: (0..cols).map(|j| format!("c{j}")).collect(),
            cells,
            row_totals,
            col_totals,
        }
    }

    /// Number of rows (without the total row).
    pub fn rows(&self) -> usize {
        self.cells.len()
    }

    /// Number of columns (without the total column).
    pub fn cols(&self) -> usize {
        self.col_labels.len()
    }

    /// Whether `p` is a cell of this table (inner cells, and the totals it has).
    pub fn exists(&self, p: Pos) -> bool {
        let (r, c) = (self.rows(), self.cols());
        match (p.row < r, p.col < c) {
            (true, true) => true,
            (true, false) => p.col == c && self.row_totals,
            (false, true) => p.row == r && self.col_totals,
            (false, false) => p.row == r && p.col == c && self.row_totals && self.col_totals,
        }
    }

    /// The value at `p` (totals are computed).
    pub fn value(&self, p: Pos) -> u64 {
        let (r, c) = (self.rows(), self.cols());
        match (p.row < r, p.col < c) {
            (true, true) => self.cells[p.row][p.col],
            (true, false) => self.cells[p.row].iter().sum(),
            (false, true) => self.cells.iter().map(|row| row[p.col]).sum(),
            (false, false) => self.cells.iter().flatten().sum(),
        }
    }

    /// Every existing position, inner cells first (row-major), then totals.
    pub fn positions(&self) -> Vec<Pos> {
        let (r, c) = (self.rows(), self.cols());
        let mut out = vec![];
        for i in 0..=r {
            for j in 0..=c {
                let p = Pos::new(i, j);
                if self.exists(p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// The lines (sets of positions whose cells add up to the line's total, the total being the
    /// last member).
    pub fn lines(&self) -> Vec<Vec<Pos>> {
        let (r, c) = (self.rows(), self.cols());
        let mut lines = vec![];
        if self.row_totals {
            for i in 0..r {
                lines.push((0..=c).map(|j| Pos::new(i, j)).collect());
            }
            if self.col_totals {
                lines.push((0..=c).map(|j| Pos::new(r, j)).collect());
            }
        }
        if self.col_totals {
            for j in 0..c {
                lines.push((0..=r).map(|i| Pos::new(i, j)).collect());
            }
            if self.row_totals {
                lines.push((0..=r).map(|i| Pos::new(i, c)).collect());
            }
        }
        lines
    }
}

/// One published cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    /// A published count.
    Value(u64),
    /// Hidden (shown as `*`).
    Suppressed,
}

impl Cell {
    /// The published value, if any.
    pub fn value(&self) -> Option<u64> {
        match self {
            Cell::Value(v) => Some(*v),
            Cell::Suppressed => None,
        }
    }

    /// Whether the cell is hidden.
    pub fn is_suppressed(&self) -> bool {
        matches!(self, Cell::Suppressed)
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Value(v) => write!(f, "{v}"),
            Cell::Suppressed => f.write_str(SUPPRESSED_MARK),
        }
    }
}

/// How a hidden cell is shown in every output format.
pub const SUPPRESSED_MARK: &str = "*";

/// A table as published: every cell a value or hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressedTable {
    /// Row labels.
    pub row_labels: Vec<String>,
    /// Column labels.
    pub col_labels: Vec<String>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<Cell>>,
    /// Row totals (the "Total" column), when the table has them.
    pub row_totals: Option<Vec<Cell>>,
    /// Column totals (the "Total" row), when the table has them.
    pub col_totals: Option<Vec<Cell>>,
    /// The grand total, when the table has both kinds of total.
    pub grand_total: Option<Cell>,
}

impl SuppressedTable {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.cells.len()
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.col_labels.len()
    }

    /// The cell at `p` in the extended grid (totals included), if it exists.
    pub fn get(&self, p: Pos) -> Option<Cell> {
        let (r, c) = (self.rows(), self.cols());
        match (p.row < r, p.col < c) {
            (true, true) => Some(self.cells[p.row][p.col]),
            (true, false) if p.col == c => self.row_totals.as_ref().map(|t| t[p.row]),
            (false, true) if p.row == r => self.col_totals.as_ref().map(|t| t[p.col]),
            (false, false) if p.row == r && p.col == c => self.grand_total,
            _ => None,
        }
    }

    /// Every hidden position.
    pub fn suppressed_positions(&self) -> Vec<Pos> {
        let (r, c) = (self.rows(), self.cols());
        let mut out = vec![];
        for i in 0..=r {
            for j in 0..=c {
                let p = Pos::new(i, j);
                if self.get(p).is_some_and(|x| x.is_suppressed()) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Whether any cell is hidden.
    pub fn any_suppressed(&self) -> bool {
        !self.suppressed_positions().is_empty()
    }

    /// The table with nothing hidden (the lead's own, audited review).
    pub fn unsuppressed(t: &Table) -> SuppressedTable {
        publish(t, &std::collections::BTreeSet::new())
    }
}

fn publish(t: &Table, hidden: &std::collections::BTreeSet<Pos>) -> SuppressedTable {
    let cell = |p: Pos| {
        if hidden.contains(&p) {
            Cell::Suppressed
        } else {
            Cell::Value(t.value(p))
        }
    };
    let (r, c) = (t.rows(), t.cols());
    SuppressedTable {
        row_labels: t.row_labels.clone(),
        col_labels: t.col_labels.clone(),
        cells: (0..r)
            .map(|i| (0..c).map(|j| cell(Pos::new(i, j))).collect())
            .collect(),
        row_totals: t
            .row_totals
            .then(|| (0..r).map(|i| cell(Pos::new(i, c))).collect()),
        col_totals: t
            .col_totals
            .then(|| (0..c).map(|j| cell(Pos::new(r, j))).collect()),
        grand_total: (t.row_totals && t.col_totals).then(|| cell(Pos::new(r, c))),
    }
}

/// Suppresses a table with the default threshold (cells 1..=4 hidden, plus secondary
/// suppression). A pure function.
pub fn suppress(table: &Table) -> SuppressedTable {
    suppress_with(table, DEFAULT_THRESHOLD, &[])
}

/// Suppresses a table: values in `1..threshold` are hidden, `forced` positions are hidden too
/// (shared totals hidden in a linked table), then secondary suppression runs until stable.
pub fn suppress_with(table: &Table, threshold: u64, forced: &[Pos]) -> SuppressedTable {
    publish(table, &hidden_set(table, threshold, forced))
}

/// The set of hidden positions (see the module documentation for the rules).
pub fn hidden_set(t: &Table, threshold: u64, forced: &[Pos]) -> std::collections::BTreeSet<Pos> {
    use std::collections::BTreeSet;
    let positions = t.positions();
    let mut hidden: BTreeSet<Pos> = positions
        .iter()
        .copied()
        .filter(|p| {
            let v = t.value(*p);
            v > 0 && (v < threshold || forced.contains(p))
        })
        .collect();
    let lines = t.lines();
    loop {
        let mut changed = false;
        // Lines with exactly one hidden entry.
        for line in &lines {
            let n = line.iter().filter(|p| hidden.contains(p)).count();
            if n == 1 {
                if let Some(p) = smallest_visible(t, &hidden, line.iter().copied()) {
                    hidden.insert(p);
                    changed = true;
                }
            }
        }
        if changed {
            continue;
        }
        // Bridges (only tables with both totals have two lines through every cell).
        if t.row_totals && t.col_totals {
            if let Some((_bridge, side_a, side_b)) = first_bridge(t, &hidden) {
                let cross = positions.iter().copied().filter(|p| {
                    let (x, y) = nodes_of(t, *p);
                    (side_a.contains(&x) && side_b.contains(&y))
                        || (side_a.contains(&y) && side_b.contains(&x))
                });
                match smallest_visible(t, &hidden, cross) {
                    Some(p) => {
                        hidden.insert(p);
                    }
                    None => {
                        for p in &positions {
                            if t.value(*p) > 0 {
                                hidden.insert(*p);
                            }
                        }
                    }
                }
                continue;
            }
        }
        break;
    }
    hidden
}

/// The smallest non-zero visible entry among `candidates` (ties: first in order).
fn smallest_visible(
    t: &Table,
    hidden: &std::collections::BTreeSet<Pos>,
    candidates: impl Iterator<Item = Pos>,
) -> Option<Pos> {
    candidates
        .filter(|p| !hidden.contains(p) && t.value(*p) > 0)
        .min_by_key(|p| (t.value(*p), *p))
}

/// The two line-nodes a cell joins in a table with both totals: row lines are `0..=rows`,
/// column lines `rows+1 ..= rows+1+cols`.
fn nodes_of(t: &Table, p: Pos) -> (usize, usize) {
    (p.row, t.rows() + 1 + p.col)
}

/// Adjacency lists of the hidden-cell graph: node -> (neighbour, cell).
fn adjacency(t: &Table, hidden: &std::collections::BTreeSet<Pos>) -> Vec<Vec<(usize, Pos)>> {
    let mut adj = vec![vec![]; t.rows() + t.cols() + 2];
    for p in hidden {
        let (a, b) = nodes_of(t, *p);
        adj[a].push((b, *p));
        adj[b].push((a, *p));
    }
    adj
}

/// Nodes reachable from `start` over hidden cells, not crossing `skip`.
fn component(
    adj: &[Vec<(usize, Pos)>],
    skip: Option<Pos>,
    start: usize,
) -> std::collections::BTreeSet<usize> {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![start];
    seen.insert(start);
    while let Some(n) = stack.pop() {
        for (other, p) in &adj[n] {
            if Some(*p) != skip && seen.insert(*other) {
                stack.push(*other);
            }
        }
    }
    seen
}

/// The first hidden cell (in position order) that is a bridge of the hidden-cell graph, with
/// the node set on one side of it (Tarjan's low-link, O(lines + hidden cells)).
fn first_bridge(
    t: &Table,
    hidden: &std::collections::BTreeSet<Pos>,
) -> Option<(
    Pos,
    std::collections::BTreeSet<usize>,
    std::collections::BTreeSet<usize>,
)> {
    let adj = adjacency(t, hidden);
    let n = adj.len();
    let mut disc = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut timer = 0usize;
    let mut bridges: Vec<Pos> = vec![];
    fn dfs(
        u: usize,
        via: Option<Pos>,
        adj: &[Vec<(usize, Pos)>],
        disc: &mut [usize],
        low: &mut [usize],
        timer: &mut usize,
        bridges: &mut Vec<Pos>,
    ) {
        disc[u] = *timer;
        low[u] = *timer;
        *timer += 1;
        for (v, p) in &adj[u] {
            if Some(*p) == via {
                continue;
            }
            if disc[*v] == usize::MAX {
                dfs(*v, Some(*p), adj, disc, low, timer, bridges);
                low[u] = low[u].min(low[*v]);
                if low[*v] > disc[u] {
                    bridges.push(*p);
                }
            } else {
                low[u] = low[u].min(disc[*v]);
            }
        }
    }
    for u in 0..n {
        if disc[u] == usize::MAX && !adj[u].is_empty() {
            dfs(u, None, &adj, &mut disc, &mut low, &mut timer, &mut bridges);
        }
    }
    let p = bridges.into_iter().min()?;
    let (a, b) = nodes_of(t, p);
    Some((p, component(&adj, Some(p), a), component(&adj, Some(p), b)))
}

/// Suppresses tables that share cells (a grand total, or the row totals of tables over the
/// same rows): `links` lists groups of `(table index, position)` that hold the same value; if
/// any member of a group is hidden in its table, every member is hidden in its own. Repeats
/// until stable.
pub fn suppress_linked(
    tables: &[Table],
    links: &[Vec<(usize, Pos)>],
    threshold: u64,
) -> Vec<SuppressedTable> {
    let mut forced: Vec<Vec<Pos>> = vec![vec![]; tables.len()];
    loop {
        let hidden: Vec<_> = tables
            .iter()
            .zip(&forced)
            .map(|(t, f)| hidden_set(t, threshold, f))
            .collect();
        let mut changed = false;
        for group in links {
            if group.iter().any(|(ti, p)| hidden[*ti].contains(p)) {
                for (ti, p) in group {
                    if !hidden[*ti].contains(p) && !forced[*ti].contains(p) {
                        forced[*ti].push(*p);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return tables
                .iter()
                .zip(&hidden)
                .map(|(t, h)| publish(t, h))
                .collect();
        }
    }
}
