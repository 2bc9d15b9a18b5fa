#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster: initialised in a temporary folder,
# started on a free loopback port as an unprivileged user (nobody, when run as root), and
# stopped and removed afterwards, whatever the command's outcome. The command finds it in
# PROVIDE_TEST_DATABASE_URL. PostgreSQL comes from Debian's packages (scripts/install-deps.sh).
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
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" start >/dev/null
export PROVIDE_TEST_DATABASE_URL="postgres://provide@127.0.0.1:$PORT/postgres"
"$@"
