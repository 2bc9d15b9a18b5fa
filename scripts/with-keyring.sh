#!/usr/bin/env bash
# Runs a command inside a private D-Bus session bus that has a real Secret Service: GNOME
# Keyring's secrets component, its login keyring made in a temporary folder and unlocked with a
# throwaway password. The command finds the bus in DBUS_SESSION_BUS_ADDRESS, so
# `os_keystore()` binds key slots to that keyring; PROVIDE_REQUIRE_KEYSTORE=1 makes the keystore
# tests (core/tests/keystore.rs) fail instead of skipping if it cannot be reached. The bus, the
# keyring daemon and the folder go when the command ends. Packages: dbus-daemon, gnome-keyring
# (scripts/install-deps.sh).
set -euo pipefail
for cmd in dbus-run-session gnome-keyring-daemon; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "$cmd is not installed: run scripts/install-deps.sh" >&2
    exit 1
  fi
done
DIR=$(mktemp -d -t provide-keyring-XXXX)
trap 'rm -rf "$DIR"' EXIT
mkdir -m 700 "$DIR/data" "$DIR/run"
# the keyring lives in the temporary folder, never in the user's own
export XDG_DATA_HOME="$DIR/data" XDG_RUNTIME_DIR="$DIR/run" PROVIDE_REQUIRE_KEYSTORE=1
unset DBUS_SESSION_BUS_ADDRESS
# dbus-daemon's note that it may not raise its file limit (unprivileged containers) is noise
dbus-run-session -- bash -c '
  printf "%s" throwaway-keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec "$@"' with-keyring "$@" 2> >(grep -v "Failed to set fd limit" >&2)
