#!/usr/bin/env bash
# Makes the upgrade fixtures in tests/fixtures/<release>/ with the binaries of that release:
# a sync server data directory (its store and key file) and an IDVA's device store holding
# fictional cases, case notes, a DASH assessment, a health note, an open conflict and changes
# the server has not seen. The upgrade tests (tests/tests/upgrade.rs) open them with today's
# code. Run it once per release, with that release's binaries, before its schema changes, for
# each server backend (PostgreSQL: beside scripts/with-postgres.sh, which names the database;
# the server's tables are then kept as a pg_dump in server/postgres.sql):
#   scripts/make-upgrade-fixtures.sh target/debug tests/fixtures/0.1.0/sqlite
#   scripts/with-postgres.sh bash -c \
#     'scripts/make-upgrade-fixtures.sh target/debug tests/fixtures/0.1.0/postgres "$PROVIDE_TEST_DATABASE_URL"'
# Every person here is fictional.
set -euo pipefail
BIN=$(realpath "$1")
OUT=$2
DB_URL=${3:-}
[ -e "$OUT" ] && { echo "$OUT exists; remove it first" >&2; exit 1; }
WORK=$(mktemp -d -t provide-fixtures-XXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
export PROVIDE_PASSPHRASE="fixture passphrase for fictional data"
S="$BIN/provide-sync-server --data-dir $WORK/server${DB_URL:+ --database-url $DB_URL}"
A="$BIN/provide --data-dir $WORK/officer"
B="$BIN/provide --data-dir $WORK/idva"

CODE_A=$($S enrol --user pc-fixture --role officer --division west --team t1)
CODE_B=$($S enrol --user idva-fixture --role idva --division west --team t1)
$S serve --listen 127.0.0.1:0 > "$WORK/server.out" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/server.out")
$A enrol --server "$URL" --code "$CODE_A" >/dev/null
$B enrol --server "$URL" --code "$CODE_B" >/dev/null

CASE=$($A case new --deployment post_incident \
  --set incident.reference=FX-20261130-0001 --set incident.occurred_at=2026-11-29T22:40:00Z \
  --set victim.name="Elowen Fixture" --set victim.dob=1990-02-03 --set victim.phone="07700 900456" \
  --set victim.safe_contact.call_ok=false --set victim.safe_contact.text_ok=true \
  --set victim.safe_contact.safe_times="weekdays 09:00-12:00" \
  --set perpetrator.name="Tristan Fixture" --set perpetrator.in_custody=true)
$A case add "$CASE" visits '{"outcome": "engaged", "notes": "Spoke alone in the kitchen"}' >/dev/null
CASE2=$($A case new --deployment post_incident \
  --set incident.reference=FX-20261130-0002 --set victim.name="Kerensa Fixture")
$A sync >/dev/null
$B sync >/dev/null
ANSWERS=$(python3 -c 'import json; print(json.dumps({f"dash_{i:02}": ("yes" if i <= 14 else "no") for i in range(1, 28)}))')
$B case assess "$CASE" dash "$ANSWERS" >/dev/null
$B case add "$CASE" safety_plan '{"text": "Code word agreed with sister"}' >/dev/null
$B health note "$CASE" "Sees the practice nurse on Thursdays" >/dev/null
$B sync >/dev/null
# both set the status apart; after both sync, the IDVA's device holds the conflict
$A case set "$CASE" status=handed_over >/dev/null
$B case set "$CASE" status=closed >/dev/null
$A sync >/dev/null
$B sync >/dev/null
# changes the server has not seen: a note on the first case and a whole new case
$B case add "$CASE" visits '{"outcome": "engaged", "notes": "Follow-up call at a safe time"}' >/dev/null
CASE3=$($B case new --deployment post_incident \
  --set incident.reference=FX-20261130-0003 --set victim.name="Morwen Fixture")
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

mkdir -p "$OUT"
if [ -n "$DB_URL" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  "$PGBIN/pg_dump" --no-owner --no-privileges "$DB_URL" > "$WORK/server/postgres.sql"
fi
cp -a "$WORK/server" "$OUT/server"
cp -a "$WORK/idva" "$OUT/idva"
# what the upgrade test checks each record against, read back with the same release
{
  echo "{"
  echo "\"commit\": \"$(git rev-parse HEAD)\","
  echo "\"passphrase\": \"$PROVIDE_PASSPHRASE\","
  echo "\"cases\": [\"$CASE\", \"$CASE2\", \"$CASE3\"],"
  echo "\"conflicted_case\": \"$CASE\","
  echo "\"unsynced\": [\"$CASE\", \"$CASE3\"],"
  echo "\"idva_case_show\": $($B case show "$CASE" --json),"
  echo "\"idva_health_show\": $($B health show "$CASE" --json),"
  echo "\"idva_case_list\": $($B case list --json)"
  echo "}"
} | python3 -m json.tool > "$OUT/expected.json"
rm -f "$OUT"/*/*.out
find "$OUT" -type f | sort
