#!/usr/bin/env bash
# The `make run` demonstration, until the app exists: two patrol devices (an officer's and an
# IDVA's) work on one case offline, exchange encrypted rescue bundles, see a conflict with who
# wrote each value, resolve it, and hand everything to a safeguarding device. Fictional people.
set -euo pipefail
PROVIDE=${1:-target/release/provide}
WORK=$(mktemp -d -t provide-demo-XXXX)
trap 'rm -rf "$WORK"' EXIT
export PROVIDE_PASSPHRASE="demo passphrase for fictional data"
export PROVIDE_BUNDLE_PASSPHRASE="demo bundle passphrase"
A="$PROVIDE --data-dir $WORK/officer"
B="$PROVIDE --data-dir $WORK/idva"
C="$PROVIDE --data-dir $WORK/safeguarding"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Three encrypted device stores (passphrase: $PROVIDE_PASSPHRASE)"
$A init --user pc-demo --role officer --division west --team blackpool-1
$B init --user idva-demo --role idva --division west --team blackpool-1
$C init --user ds-demo --role safeguarding --division west

say "Officer records a post-incident case offline"
CASE=$($A case new --deployment post_incident \
  --set incident.reference=LC-20261122-0001 --set incident.occurred_at=2026-11-21T23:10:00Z \
  --set victim.name="Demelza Fictional" --set victim.dob=1991-04-12 --set victim.phone="07700 900123" \
  --set victim.safe_contact.call_ok=false --set victim.safe_contact.text_ok=true \
  --set victim.safe_contact.safe_times="weekdays 10:00-14:00" \
  --set perpetrator.name="Rhydian Fictional" --set perpetrator.in_custody=true)
echo "case $CASE"
$A case add "$CASE" visits '{"outcome": "engaged", "notes": "Spoke alone while perpetrator in custody"}' >/dev/null

say "Officer hands the case to the IDVA's device in an encrypted bundle (no signal needed)"
$A bundle export --case "$CASE" --out "$WORK/a-to-b.bundle"
$B bundle import "$WORK/a-to-b.bundle"

say "IDVA completes a DASH assessment: 15 yes answers meets the MARAC threshold"
ANSWERS=$(python3 -c 'import json; print(json.dumps({f"dash_{i:02}": ("yes" if i <= 15 else "no") for i in range(1, 28)}))')
$B case assess "$CASE" dash "$ANSWERS"
$B case add "$CASE" referrals '{"kind": "marac", "service": "Daily MARAC", "consent": "yes", "status": "made"}' >/dev/null
$B case add "$CASE" safety_plan '{"text": "Code word agreed with neighbour"}' >/dev/null
$B health note "$CASE" "Attends GP surgery on Tuesdays; can be seen there discreetly" >/dev/null

say "Both edit the status offline, differently"
$A case set "$CASE" status=handed_over
$B case set "$CASE" status=closed outcome.engaged_safeguarding=yes

say "They swap bundles of unsynced changes"
$A bundle export --out "$WORK/a.bundle"
$B bundle export --out "$WORK/b.bundle"
$A bundle import "$WORK/b.bundle"
$B bundle import "$WORK/a.bundle"

say "Both devices now show the same case, with the status conflict and who wrote each value"
$A case show "$CASE"
echo
$B case show "$CASE"

say "The IDVA resolves the conflict by writing a value; the officer receives it"
$B case set "$CASE" status=handed_over
$B bundle export --out "$WORK/b2.bundle"
$A bundle import "$WORK/b2.bundle"
$A case show "$CASE" --json | python3 -c 'import json,sys; v=json.load(sys.stdin); print("conflicts:", v["conflicts"], "| risk:", v["risk_level"], "| MARAC:", v["risk"]["marac_criteria"])'

say "Safeguarding receives the whole case (no health record: it is not a police document)"
$A bundle export --case "$CASE" --out "$WORK/a-to-c.bundle"
$C bundle import "$WORK/a-to-c.bundle"
$C case list

say "Who changed the status, and when"
$C case history "$CASE" status

say "Every device's audit log verifies"
$A audit verify; $B audit verify; $C audit verify
echo
echo "Nothing above was written in the clear: $(du -sh "$WORK" | cut -f1) of encrypted stores in $WORK (removed on exit)."
