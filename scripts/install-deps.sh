#!/usr/bin/env bash
# Installs what `make run` and `make test` need on Debian 12 and is silent when all is present:
# Debian packages (compilers, PostgreSQL, the WebKitGTK the Tauri app is built on, Xvfb,
# WebKitWebDriver and xwd/netpbm (window screenshots) for the native suite, Chromium for the browser tests,
# libdbus (provide-core reaches the Secret Service through it) and a D-Bus session bus with GNOME Keyring
# for the keystore tests, Prometheus for `promtool check metrics` on the server's metrics,
# mingw-w64 and Wine 8 for the Windows cross-build and its tests, Node.js if missing),
# the Rust standard library for x86_64-pc-windows-gnu (rustup),
# tauri-driver from crates.io, and the UI's npm packages from ui/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential pkg-config libssl-dev ca-certificates python3 postgresql
      libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
      xvfb xauth x11-apps netpbm webkit2gtk-driver chromium fonts-dejavu-core
      libdbus-1-dev dbus-daemon gnome-keyring systemd prometheus
      gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)
need_pkgs=()
for pkg in "${pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # only promtool is wanted from the prometheus package: not its daemon, where systemd runs
  if [[ " ${need_pkgs[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is missing: install a Rust toolchain (1.89 or newer) with rustup, then run make again." >&2
  exit 1
fi

# the Windows target's standard library, for `make windows`, `make dist` and the Wine suite
if command -v rustup >/dev/null 2>&1 &&
    ! rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu; then
  echo "Installing the Rust target x86_64-pc-windows-gnu (rustup)"
  rustup target add x86_64-pc-windows-gnu >/dev/null
fi

# tauri-driver: the WebDriver bridge to the real app window (native suite)
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "Installing tauri-driver (crates.io)"
  cargo install tauri-driver --locked --quiet
fi

# the UI's packages, exactly as locked; again whenever the lock file changes
stamp=ui/node_modules/.provide-lock
if [ ! -f "$stamp" ] || ! cmp -s ui/package-lock.json "$stamp"; then
  echo "Installing the UI's npm packages"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  cp ui/package-lock.json "$stamp"
fi
