#!/usr/bin/env bash
# Installs/prefetches everything the binding test suites (bindings/tests/bindings.rs) need, so
# `cargo test -p outreach-ffi` can run the Kotlin, Swift and Python suites. Idempotent: safe to
# re-run; parts already in place take seconds. This is what CI calls (via
# .ci/toolchains/bindings.sh).
#
#   scripts/setup-bindings-toolchains.sh [apt] [bindgen] [kotlin] [python] [swift]   (default: all)
#
# Parts:
#   apt     Debian packages on the host: debootstrap (Swift chroot), JDK 17 + Maven (Kotlin).
#   bindgen Builds the pinned bindings/uniffi-bindgen into $OUTREACH_TOOLCHAIN_CACHE/
#           uniffi-bindgen-target, which the binding tests reuse: a fresh clone then compiles
#           only the bindgen's tiny main.rs instead of its ~100 dependencies (minutes).
#   kotlin  Maven local repository prefetch: runs bindings/tests/kotlin/pom.xml once, online,
#           on throwaway probe sources, so the real suite runs offline (-o) afterwards.
#   python  pytest for the Python suite (normally already installed).
#   swift   Debian trixie chroot with swiftlang (scripts/swift-chroot.sh setup).
#
# Caches live outside the repository and survive on the machine:
#   OUTREACH_TOOLCHAIN_CACHE   default /var/cache/outreach-toolchains (Maven repo: $it/m2,
#                              bindgen build: $it/uniffi-bindgen-target)
#   OUTREACH_SWIFT_CHROOT      default /var/cache/outreach-swift-chroot
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OUTREACH_TOOLCHAIN_CACHE:-/var/cache/outreach-toolchains}"
M2="$CACHE/m2"
POM="$REPO/bindings/tests/kotlin/pom.xml"
PROBE_MARKER="$M2/.outreach-prefetched-pom.xml"

PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(apt bindgen kotlin python swift)

log() { printf '[setup-bindings] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
TIMINGS=()
timed() {
    local name="$1"; shift
    local t0=$SECONDS
    log "== $name"
    "$@"
    TIMINGS+=("$(printf '%-8s %4d s' "$name" $((SECONDS - t0)))")
}

apt_updated=0
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || { log "apt: already installed: $*"; return 0; }
    [ "$(id -u)" = 0 ] || die "apt packages missing (${missing[*]}) and not root"
    if [ $apt_updated = 0 ]; then apt-get update -q; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

part_apt() {
    apt_install debootstrap openjdk-17-jdk-headless maven
}

part_bindgen() {
    command -v cargo >/dev/null || die "cargo missing"
    mkdir -p "$CACHE"
    cargo build --locked --quiet \
        --manifest-path "$REPO/bindings/uniffi-bindgen/Cargo.toml" \
        --target-dir "$CACHE/uniffi-bindgen-target"
    log "bindgen: $("$CACHE/uniffi-bindgen-target/debug/uniffi-bindgen" --version)"
}

part_kotlin() {
    command -v mvn >/dev/null || die "mvn missing: run this script's apt part"
    mkdir -p "$M2"
    if [ -f "$PROBE_MARKER" ] && cmp -s "$PROBE_MARKER" "$POM"; then
        log "kotlin: Maven repo $M2 already prefetched for this pom"
        return 0
    fi
    local probe
    probe="$(mktemp -d)"
    mkdir -p "$probe/main/probe" "$probe/test/probe"
    cat >"$probe/main/probe/Probe.kt" <<'EOF'
package probe
fun probeValue(): Int = com.sun.jna.Native.POINTER_SIZE
EOF
    cat >"$probe/test/probe/ProbeTest.kt" <<'EOF'
package probe
import kotlin.test.Test
import kotlin.test.assertEquals
class ProbeTest {
    @Test fun jnaAndJunitWork() = assertEquals(8, probeValue())
}
EOF
    # Same pom, same plugins and dependency graph as the real suite; only the sources differ.
    if ! mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$POM" \
        -Dmaven.repo.local="$M2" \
        -Doutreach.generated.dir="$probe/main" \
        -Doutreach.test.dir="$probe/test" \
        -Doutreach.build.dir="$probe/build" \
        test; then
        rm -rf "$probe"
        die "Maven prefetch probe failed"
    fi
    rm -rf "$probe"
    cp "$POM" "$PROBE_MARKER"
    log "kotlin: prefetched into $M2 ($(du -sh "$M2" | cut -f1))"
}

part_python() {
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || die "$py missing"
    if "$py" -c 'import pytest' 2>/dev/null; then
        log "python: $("$py" --version) with pytest $("$py" -c 'import pytest; print(pytest.__version__)')"
    else
        "$py" -m pip install --quiet 'pytest>=8'
    fi
}

part_swift() {
    "$REPO/scripts/swift-chroot.sh" setup
}

for part in "${PARTS[@]}"; do
    case "$part" in
        apt) timed apt part_apt ;;
        bindgen) timed bindgen part_bindgen ;;
        kotlin) timed kotlin part_kotlin ;;
        python) timed python part_python ;;
        swift) timed swift part_swift ;;
        *) die "unknown part '$part' (apt bindgen kotlin python swift)" ;;
    esac
done

log "timings:"
for t in "${TIMINGS[@]}"; do log "  $t"; done
