#!/usr/bin/env bash
# Runs a command inside a private D-Bus session bus that has a real Secret Service: GNOME
# Keyring's secrets component, its login keyring made in a temporary folder and unlocked with a
# throwaway password. The command finds the bus in DBUS_SESSION_BUS_ADDRESS, so
# `os_keystore()` binds key slots to that keyring; PROVIDE_REQUIRE_KEYSTORE=1 makes the keystore
# tests (core/tests/keystore.rs) fail instead of skipping if it cannot be reached.
#
# The bus starts the keyring daemon itself, on the first request, through a service file of its
# own (not the system's, which would start a locked keyring that asks a desktop prompt to open
# it): the daemon reads the throwaway password on stdin and unlocks (or makes) the login keyring.
# Should the daemon ever go away during a long run (CI once lost it minutes before the keystore
# tests), the bus starts it again the same way and it opens the same keyring file.
# The bus, the daemon and the folder go when the command ends. Packages: dbus-daemon,
# gnome-keyring (scripts/install-deps.sh).
set -euo pipefail
for cmd in dbus-run-session gnome-keyring-daemon; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "$cmd is not installed: run scripts/install-deps.sh" >&2
    exit 1
  fi
done
DIR=$(mktemp -d -t provide-keyring-XXXX)
trap 'rm -rf "$DIR"' EXIT
mkdir -m 700 "$DIR/data" "$DIR/run" "$DIR/services"
cat >"$DIR/start-keyring" <<'SCRIPT'
#!/bin/sh
printf "%s" throwaway-keyring-password | exec gnome-keyring-daemon --foreground --unlock --components=secrets
SCRIPT
chmod 700 "$DIR/start-keyring"
cat >"$DIR/services/org.freedesktop.secrets.service" <<SERVICE
[D-BUS Service]
Name=org.freedesktop.secrets
Exec=$DIR/start-keyring
SERVICE
cat >"$DIR/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$DIR/run</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$DIR/services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
# the keyring lives in the temporary folder, never in the user's own
export XDG_DATA_HOME="$DIR/data" XDG_RUNTIME_DIR="$DIR/run" PROVIDE_REQUIRE_KEYSTORE=1
unset DBUS_SESSION_BUS_ADDRESS
# dbus-daemon's note that it may not raise its file limit (unprivileged containers) is noise
dbus-run-session --config-file="$DIR/bus.conf" -- "$@" 2> >(grep -v "Failed to set fd limit" >&2)
