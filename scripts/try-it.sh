#!/usr/bin/env bash
# The main job on the embedded default, end to end through the `outreach` command:
# create an encrypted store, start a shift, log contacts (one with a person profile), check a
# phone number and a plate against an alert offline, list the night, show the audit trail.
#
# Everything is written under a fresh directory (printed at the end); the data is fake.
# Usage: scripts/try-it.sh [DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DIR="${1:-$(mktemp -d -t outreach-try-XXXXXX)}"
cargo build --release -q -p outreach-cli
OUT="$PWD/target/release/outreach"
export OUTREACH_DATA_DIR="$DIR/store"
# A demo passphrase in the environment (never on the command line). Real use: the prompt.
export OUTREACH_PASSPHRASE="fake demo passphrase, not for real data"
export OUTREACH_USER="staff-a"

say() { printf '\n\033[1m$ outreach %s\033[0m\n' "$*"; }
run() { say "$*"; "$OUT" "$@"; }

run init --team "Fake Night Van Team" --zones "north-beat,south-beat,station" --country GB
run shift start --van "Van 1" --crew staff-a,staff-b --zones north-beat,station
say 'person add "Fakey Moonbeam" --age-band 25_34 --gender woman'
PERSON=$("$OUT" person add "Fakey Moonbeam" --age-band 25_34 --gender woman | grep -Eo '[0-9a-f-]{36}' | head -1)
echo "$PERSON"
run log --zone north-beat --setting street --contact full --person "$PERSON" \
    --service condoms=10 --service lube=5 --service hot_drink=1 \
    --referral sexual_health:signposted:consent:offered --consent record,follow_up_contact \
    --note "Fake note: asked about clinic times"
run log --zone station --setting street --contact brief --service needles_out=20 --service equipment_returned=15
run alert add --description "Fake alert: driver of a silver car, aggressive" --plate "AB12 CDE" \
    --phone "07700 900123" --area north-beat --risk high
run alert check --phone "+44 7700 900123"
run alert check --plate "ab12cde"
run alert check --phone "07700 900999"
run person find "fakey moonbem"
run list
run shift end
run audit --limit 12
run check
echo
echo "Store written to $OUTREACH_DATA_DIR (encrypted; passphrase in this script)."
