#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster: initialised in a temporary folder,
# started on a free loopback port as an unprivileged user (nobody, when run as root), and
# stopped and removed afterwards, whatever the command's outcome. The command finds it in
# PROVIDE_TEST_DATABASE_URL, and two scripts that stop it in immediate mode and start it
# again in PROVIDE_TEST_PG_STOP and PROVIDE_TEST_PG_START. PostgreSQL comes from Debian's
# packages (scripts/install-deps.sh).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ]; then
  echo "PostgreSQL is not installed: run scripts/install-deps.sh" >&2
  exit 1
fi
DIR=$(mktemp -d -t provide-pg-XXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AS=()
if [ "$(id -u)" -eq 0 ]; then
  chown nobody "$DIR"
  AS=(runuser -u nobody --)
fi
stop() {
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U provide --auth=trust -E UTF8 >/dev/null
OPTS="-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -o "$OPTS" start >/dev/null
export PROVIDE_TEST_DATABASE_URL="postgres://provide@127.0.0.1:$PORT/postgres"
# Two commands for tests that take the database away under running servers (the nemesis):
# stop it at once, as a crash would (immediate mode: no checkpoint, recovery at the next
# start), and start it again with the same options on the same port, waiting until it takes
# connections.
printf '#!/usr/bin/env bash\nexec %s %q -D %q -m immediate -w stop >/dev/null\n' \
  "${AS[*]}" "$PGBIN/pg_ctl" "$DIR/data" >"$DIR/pg-stop"
printf '#!/usr/bin/env bash\nexec %s %q -D %q -l %q -w -o %q start >/dev/null\n' \
  "${AS[*]}" "$PGBIN/pg_ctl" "$DIR/data" "$DIR/server.log" "$OPTS" >"$DIR/pg-start"
chmod 755 "$DIR/pg-stop" "$DIR/pg-start"
export PROVIDE_TEST_PG_STOP="$DIR/pg-stop" PROVIDE_TEST_PG_START="$DIR/pg-start"
"$@"
