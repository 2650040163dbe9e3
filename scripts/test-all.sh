#!/usr/bin/env bash
# Runs every test in the workspace: the README's test command, and what .ci/run calls.
#
# What it needs (all installed by .ci/run on a fresh machine):
#   - Rust (cargo), libssl-dev + pkg-config (SQLCipher links the system libcrypto);
#   - OUTREACH_TEST_PG_URL pointing at a PostgreSQL server for the hub's PostgreSQL engine
#     (eval "$(hub/scripts/start-test-postgres.sh)"); without it those tests say "skipped",
#     unless OUTREACH_REQUIRE_PG=1, which makes a missing server a failure;
#   - the binding toolchains (scripts/setup-bindings-toolchains.sh); without them the Kotlin,
#     Swift and Python suites say "skipped", unless CI=true or OUTREACH_REQUIRE_BINDINGS=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo test --workspace (core, proto, hub, cli, bindings, cross-crate tests)"
cargo test --workspace --locked

step "benchmarks compile (run them with: cargo bench -p outreach-core)"
cargo bench --workspace --locked --no-run

echo
echo "all test suites passed"
