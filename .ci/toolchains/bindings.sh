#!/usr/bin/env bash
# CI entry point for the binding toolchains (Kotlin/JVM via Maven, Swift via a Debian trixie
# chroot, Python via pytest). Idempotent and cached outside the clone, so a re-run on the same
# machine takes seconds. Call it before `cargo test` in .ci/run:
#
#   bash .ci/toolchains/bindings.sh
#
# With CI=true, `cargo test -p outreach-ffi` FAILS (instead of skipping) when a toolchain is
# missing. Details: bindings/README.md.
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/setup-bindings-toolchains.sh" "$@"
