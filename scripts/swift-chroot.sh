#!/usr/bin/env bash
# Swift on a Debian bookworm host: bookworm ships no Swift compiler, trixie does (`swiftlang`).
# This script keeps a `debootstrap --variant=minbase trixie` chroot outside the repository and
# runs commands inside it with host directories bind-mounted at the SAME absolute paths, so
# paths to generated sources, module maps and the bookworm-built liboutreach_ffi.so are
# identical inside and outside.
#
#   scripts/swift-chroot.sh setup                 create + provision the chroot (idempotent)
#   scripts/swift-chroot.sh check                 exit 0 iff the chroot is ready (prints why not)
#   scripts/swift-chroot.sh run [--bind DIR]... [--cwd DIR] [--env NAME=VALUE]... -- CMD [ARGS...]
#                                                 run CMD inside, with each DIR bind-mounted, in
#                                                 a clean environment plus the given variables
#   scripts/swift-chroot.sh path                  print the chroot directory
#
# Environment:
#   OUTREACH_SWIFT_CHROOT   chroot directory (default /var/cache/outreach-swift-chroot)
#   OUTREACH_DEBIAN_MIRROR  Debian mirror URI; default: the one this machine's apt uses for
#                           its own release (read from /etc/apt/sources.list{,.d/*})
#   OUTREACH_SWIFT_SUITE    Debian suite for the chroot (default trixie)
#
# Needs root (debootstrap, chroot, mount). Mounts are made in a private mount namespace
# (unshare -m), so nothing stays mounted on the host after a run, even when it is killed.
set -euo pipefail

ROOT="${OUTREACH_SWIFT_CHROOT:-/var/cache/outreach-swift-chroot}"
SUITE="${OUTREACH_SWIFT_SUITE:-trixie}"
MARKER="$ROOT/.outreach-swift-ready"
PACKAGES=(swiftlang libc6-dev)

log() { printf '[swift-chroot] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot/mount)"; }

# The mirror this machine's apt uses for its own release (e.g. the `bookworm` suite), read from
# deb822 *.sources files first, then one-line *.list files. Security/updates suites are skipped
# because we match the bare codename exactly.
detect_mirror() {
    if [ -n "${OUTREACH_DEBIAN_MIRROR:-}" ]; then echo "$OUTREACH_DEBIAN_MIRROR"; return; fi
    local codename
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    [ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822: paragraphs separated by blank lines; want Types: deb, Suites containing codename.
        uri="$(awk -v cn="$codename" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " cn " ") && uris != "" && !done) {
                    split(uris, u, " "); print u[1]; done = 1
                }
                types = ""; suites = ""; uris = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:"  { $1 = ""; types = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "uris:"   { $1 = ""; uris = $0 }
            END { flush() }' "$f")"
        uri="$(echo "$uri" | sed 's/^ *//')"
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [opts] URI SUITE COMPONENTS...
        uri="$(awk -v cn="$codename" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i+1) == cn) { print $i; exit }
            }' "$f")"
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    die "no apt source for suite '$codename' found; set OUTREACH_DEBIAN_MIRROR"
}

# Refuse to delete a directory that still has something mounted inside it.
mounts_under() { awk -v r="$1/" 'index($2, r) == 1 { print $2 }' /proc/mounts; }
safe_rm() {
    [ -z "$(mounts_under "$1")" ] || die "mounts still active under $1: $(mounts_under "$1" | tr '\n' ' ')"
    rm -rf --one-file-system "$1"
}

# Run "$@" inside the chroot in a private mount namespace with /dev, /proc and the given binds.
# Usage: in_chroot BIND_DIRS_NEWLINE_SEPARATED CWD ENV_NEWLINE_SEPARATED CMD...
in_chroot() {
    local binds="$1" cwd="$2" envs="$3"; shift 3
    unshare --mount --propagation private -- /bin/bash -euo pipefail -c '
        root="$1"; binds="$2"; cwd="$3"; envs="$4"; shift 4
        extra=()
        while IFS= read -r e; do [ -z "$e" ] || extra+=("$e"); done <<< "$envs"
        mount --rbind /dev "$root/dev"
        mount -t proc proc "$root/proc"
        mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
        cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
        while IFS= read -r d; do
            [ -n "$d" ] || continue
            [ -d "$d" ] || { echo "[swift-chroot] bind source $d is not a directory" >&2; exit 1; }
            mkdir -p "$root$d"
            mount --bind "$d" "$root$d"
        done <<< "$binds"
        exec chroot "$root" /usr/bin/env -i \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "${extra[@]}" \
            /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
    ' in_chroot "$ROOT" "$binds" "$cwd" "$envs" "$@"
}

cmd_check() {
    if [ "$(id -u)" != 0 ]; then echo "not root: the Swift chroot needs root"; return 1; fi
    if [ ! -f "$MARKER" ]; then echo "no provisioned Swift chroot at $ROOT"; return 1; fi
    if [ ! -x "$ROOT/usr/bin/swiftc" ]; then echo "swiftc missing in $ROOT"; return 1; fi
    return 0
}

cmd_setup() {
    need_root
    mkdir -p "$(dirname "$ROOT")"
    exec 9>"$ROOT.lock"
    flock 9
    if cmd_check >/dev/null; then
        log "ready: $ROOT ($(head -n1 "$MARKER"))"
        return 0
    fi
    command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
    local mirror
    mirror="$(detect_mirror)"
    # A half-made chroot (interrupted debootstrap) is thrown away and redone; a complete base
    # system (apt present, debootstrap finished) is kept and only provisioned.
    if [ -d "$ROOT" ] && [ ! -x "$ROOT/usr/bin/apt-get" -o -d "$ROOT/debootstrap" ]; then
        log "removing incomplete chroot $ROOT"
        safe_rm "$ROOT"
    fi
    if [ ! -d "$ROOT" ]; then
        log "debootstrap --variant=minbase $SUITE $ROOT $mirror"
        local t0=$SECONDS
        [ ! -e "$ROOT.partial" ] || safe_rm "$ROOT.partial"
        # Its own mount namespace: whatever debootstrap mounts (proc, sys) vanishes with it.
        unshare --mount --propagation private -- \
            debootstrap --variant=minbase "$SUITE" "$ROOT.partial" "$mirror" \
            || { safe_rm "$ROOT.partial"; die "debootstrap failed"; }
        mv "$ROOT.partial" "$ROOT"
        log "debootstrap took $((SECONDS - t0)) s"
    fi
    local t1=$SECONDS
    log "installing ${PACKAGES[*]} (--no-install-recommends) inside the chroot"
    in_chroot "" / "" apt-get update -q
    in_chroot "" / "" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
    in_chroot "" / "" apt-get clean
    in_chroot "" / "" swiftc --version >"$MARKER.tmp" 2>&1 || die "swiftc does not run in chroot"
    mv "$MARKER.tmp" "$MARKER"
    log "provisioning took $((SECONDS - t1)) s; $(head -n1 "$MARKER")"
}

cmd_run() {
    need_root
    local binds="" cwd="/" envs=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --env) [[ "$2" == *=* ]] || die "--env wants NAME=VALUE"; envs+="$2"$'\n'; shift 2 ;;
            --bind) binds+="$(readlink -f "$2")"$'\n'; shift 2 ;;
            --cwd) cwd="$(readlink -f "$2")"; shift 2 ;;
            --) shift; break ;;
            *) die "unknown option $1 (use -- before the command)" ;;
        esac
    done
    [ $# -gt 0 ] || die "run: no command"
    local why
    why="$(cmd_check)" || die "$why; run scripts/swift-chroot.sh setup"
    in_chroot "$binds" "$cwd" "$envs" "$@"
}

case "${1:-}" in
    setup) shift; cmd_setup "$@" ;;
    check) shift; cmd_check ;;
    run) shift; cmd_run "$@" ;;
    path) echo "$ROOT" ;;
    mirror) detect_mirror ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
esac
