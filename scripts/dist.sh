#!/usr/bin/env bash
# `make dist`: the release packages, in dist/ (`make dist` builds the UI first):
#  - the patrol app for Debian and Ubuntu as a .deb, by Tauri's bundler (npm @tauri-apps/cli,
#    locked in ui/package-lock.json);
#  - the sync server for Linux as a tarball: the binary, the systemd unit and its settings from
#    deploy/, and docs/OPERATIONS.md (which says how to install them);
#  - the Windows binaries (provide-app.exe, provide.exe, provide-sync-server.exe), cross-built
#    with mingw-w64, as a zip with a README for the force's or trust's desktop team.
# Each artefact's name and size is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
TARGET=x86_64-pc-windows-gnu
out=dist
rm -rf "$out"
mkdir -p "$out"
stage=$(mktemp -d -t provide-dist-XXXX)
trap 'rm -rf "$stage"' EXIT

echo "== the app for Linux (.deb, Tauri's bundler)"
# the UI is already built by make; bundling is switched on here only (tauri.conf.json keeps it
# off so plain cargo builds never bundle)
(cd src-tauri && ../ui/node_modules/.bin/tauri build --ci --bundles deb \
  --config '{"bundle": {"active": true}, "build": {"beforeBuildCommand": ""}}')
cp target/release/bundle/deb/*.deb "$out/"

echo "== the sync server for Linux (tarball with the systemd unit)"
cargo build --release -p provide-sync-server --bin provide-sync-server
server="provide-sync-server-$version-linux-x86_64"
mkdir -p "$stage/$server"
install -m 0755 target/release/provide-sync-server "$stage/$server/"
install -m 0644 deploy/provide-sync-server.service deploy/provide-sync-server.env \
  docs/OPERATIONS.md "$stage/$server/"
tar -C "$stage" --owner=0 --group=0 --sort=name -czf "$out/$server.tar.gz" "$server"

echo "== the Windows binaries (zip)"
scripts/build-windows.sh
windows="provide-$version-windows-x86_64"
mkdir -p "$stage/$windows"
# stripped of the symbol table (a third of their size); a panic still names its file and line
for exe in provide-app provide provide-sync-server; do
  x86_64-w64-mingw32-strip -o "$stage/$windows/$exe.exe" "target/$TARGET/release/$exe.exe"
done
# the app loads WebView2 through Microsoft's loader, which the build puts beside it
cp "target/$TARGET/release/WebView2Loader.dll" "$stage/$windows/"
sed "s/@VERSION@/$version/g" deploy/windows/README.txt | sed 's/$/\r/' >"$stage/$windows/README.txt"
python3 - "$stage" "$windows" "$out/$windows.zip" <<'PY'
import os, sys, zipfile
stage, name, dest = sys.argv[1:]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for f in sorted(os.listdir(os.path.join(stage, name))):
        z.write(os.path.join(stage, name, f), f"{name}/{f}")
PY

echo "== dist/"
for f in "$out"/*; do
  printf "%-60s %12s bytes\n" "$f" "$(stat -c %s "$f")"
done
