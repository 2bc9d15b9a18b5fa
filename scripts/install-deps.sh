#!/usr/bin/env bash
# Installs what `make run` and `make test` need on Debian 12 and is silent when all is present.
# System packages come from Debian; Rust crates from crates.io through cargo.
set -euo pipefail

need_pkgs=()
for pkg in build-essential pkg-config libssl-dev ca-certificates python3 postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is missing: install a Rust toolchain (1.85 or newer) with rustup, then run make again." >&2
  exit 1
fi
