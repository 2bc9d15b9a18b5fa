#!/usr/bin/env bash
# The `make run` demonstration: a local sync server on its embedded encrypted store, and an
# officer's, an IDVA's and a safeguarding device enrolled with it (command line), then the
# patrol app opened on the IDVA's device against that server.
# The pair work one case offline, sync when "signal returns", see a conflict with who wrote each
# value, resolve it, and the case reaches safeguarding without the health record. A rescue
# bundle shows the no-signal hand-over. Every person here is fictional.
set -euo pipefail
BIN=${1:-target/release}
PROVIDE="$BIN/provide"
SERVER="$BIN/provide-sync-server"
WORK=$(mktemp -d -t provide-demo-XXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
export PROVIDE_PASSPHRASE="demo passphrase for fictional data"
export PROVIDE_BUNDLE_PASSPHRASE="demo bundle passphrase"
S="$SERVER --data-dir $WORK/server"
A="$PROVIDE --data-dir $WORK/officer"
B="$PROVIDE --data-dir $WORK/idva"
C="$PROVIDE --data-dir $WORK/safeguarding"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "The administrator issues one-time enrolment codes (valid 24 h)"
CODE_A=$($S enrol --user pc-demo --role officer --division west --team blackpool-1)
CODE_B=$($S enrol --user idva-demo --role idva --division west --team blackpool-1)
CODE_C=$($S enrol --user ds-demo --role safeguarding --division west)
echo "officer $CODE_A, IDVA $CODE_B, safeguarding $CODE_C"

say "A local sync server on its embedded, encrypted store"
$S serve --listen 127.0.0.1:0 > "$WORK/server.out" &
SERVER_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/server.out")
echo "serving at $URL"

say "Three devices enrol (each creates its encrypted store)"
$A enrol --server "$URL" --code "$CODE_A"
$B enrol --server "$URL" --code "$CODE_B"
$C enrol --server "$URL" --code "$CODE_C"
$S devices

say "Officer records a post-incident case offline, then syncs when signal returns"
CASE=$($A case new --deployment post_incident \
  --set incident.reference=LC-20261122-0001 --set incident.occurred_at=2026-11-21T23:10:00Z \
  --set victim.name="Demelza Fictional" --set victim.dob=1991-04-12 --set victim.phone="07700 900123" \
  --set victim.safe_contact.call_ok=false --set victim.safe_contact.text_ok=true \
  --set victim.safe_contact.safe_times="weekdays 10:00-14:00" \
  --set perpetrator.name="Rhydian Fictional" --set perpetrator.in_custody=true)
echo "case $CASE"
$A case add "$CASE" visits '{"outcome": "engaged", "notes": "Spoke alone while perpetrator in custody"}' >/dev/null
$A sync

say "The IDVA's device receives it and she completes a DASH: 15 yes answers meets the MARAC threshold"
$B sync
ANSWERS=$(python3 -c 'import json; print(json.dumps({f"dash_{i:02}": ("yes" if i <= 15 else "no") for i in range(1, 28)}))')
$B case assess "$CASE" dash "$ANSWERS"
$B case add "$CASE" referrals '{"kind": "marac", "service": "Daily MARAC", "consent": "yes", "status": "made"}' >/dev/null
$B case add "$CASE" safety_plan '{"text": "Code word agreed with neighbour"}' >/dev/null
$B health note "$CASE" "Attends GP surgery on Tuesdays; can be seen there discreetly" >/dev/null

say "Out of signal, both edit the status, differently"
$A case set "$CASE" status=handed_over
$B case set "$CASE" status=closed outcome.engaged_safeguarding=yes

say "Signal returns: both sync (one round trip each)"
$B sync --json
$A sync --json
$B sync

say "Both devices show the same case, with the status conflict and who wrote each value"
$A case show "$CASE"

say "The IDVA resolves the conflict by writing a value; it reaches the officer on the next sync"
$B case set "$CASE" status=handed_over
$B sync; $A sync
$A case show "$CASE" --json | python3 -c 'import json,sys; v=json.load(sys.stdin); print("conflicts:", v["conflicts"], "| risk:", v["risk_level"], "| MARAC:", v["risk"]["marac_criteria"])'

say "Safeguarding receives the case; the health record never leaves the IDVA side"
$C sync
$C case list
$C health show "$CASE" 2>&1 || true

say "No signal at all: a case handed over in an encrypted rescue bundle"
$A bundle export --case "$CASE" --out "$WORK/a-to-b.bundle"
$B bundle import "$WORK/a-to-b.bundle"

say "The server's audit log: every disclosure, by device, with no personal data"
$S audit | tail -n 8
say "The server's audit log is hash-chained: it verifies, and its head is an anchor to keep elsewhere"
$S audit verify
$S audit anchor

say "Every device's audit log verifies, and reached the server"
$A audit verify; $B audit verify; $C audit verify
$A sync >/dev/null
DEVICE_A=$($S devices --json | python3 -c 'import json,sys; print([d["id"] for d in json.load(sys.stdin) if d["role"] == "officer"][0])')
$S audit --verify-device "$DEVICE_A"
say "Safeguarding triages three more incidents for the team's shift"
for n in 1 2 3; do
  $C case new --deployment post_incident --set team=blackpool-1 \
    --set incident.reference=LC-20261122-010$n --set incident.occurred_at=2026-11-21T2$n:15:00Z \
    --set victim.name="$(sed -n ${n}p <<< $'Morwenna Example\nTegan Sample\nPriya Fictional')" \
    --set victim.safe_contact.call_ok=$([ $n = 2 ] && echo false || echo true) \
    --set triage.reason=$([ $n = 3 ] && echo health_need || echo high_risk) \
    --set triage.notes="$([ $n = 3 ] && echo 'pregnant; needs a midwife referral')" \
    --set triage.priority=$n --set triage.visit_date="$(date +%F)" >/dev/null
done
$C sync >/dev/null; $B sync >/dev/null
$B case list

echo
echo "Nothing above was written in the clear: $(du -sh "$WORK" | cut -f1) of encrypted stores in $WORK (removed on exit)."

say "The patrol app, on the IDVA's device, against this sync server"
echo "Unlock it with the demo passphrase:  $PROVIDE_PASSPHRASE"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  unset PROVIDE_PASSPHRASE
  PROVIDE_DATA_DIR="$WORK/idva" "$BIN/provide-app" || echo "The app closed with an error."
else
  echo "No display here (DISPLAY is unset), so the window cannot open; run make run on a desktop."
fi
