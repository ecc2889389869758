#!/usr/bin/env bash
# `npm run test:platforms [-- <triple> ...]`: builds each target with `npm run build:target` (the three
# Linux ones and x86_64-pc-windows-gnu by default), then runs the platform tests on them, each on its own
# Node (musl, arm64 under qemu, Windows Node under Wine), and, when a Linux target is among them, the
# local-registry install test. The macOS targets (both by default) cannot be linked here: they are checked
# up to the link (`cargo zigbuild check`). Installs its tools first (scripts/platform-tools.sh).
# The PostgreSQL outbox part needs PARTNER_SYNC_TEST_POSTGRES, as `npm test` does (.ci/run starts one).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu
  x86_64-pc-windows-gnu x86_64-apple-darwin aarch64-apple-darwin)
built=() checked=()
for target in "${targets[@]}"; do
  if [[ $target == *-apple-darwin ]]; then checked+=(--target "$target"); else built+=("$target"); fi
done

PARTNER_SYNC_PLATFORM_TOOLS=$(bash scripts/platform-tools.sh)
export PARTNER_SYNC_PLATFORM_TOOLS
if [ ${#checked[@]} -gt 0 ]; then
  # Every crate type-checked with macOS's cfgs, every build script run (our C compiled by zig for macOS).
  started=$SECONDS
  nice -n 10 cargo-zigbuild check --locked "${checked[@]}"
  echo "test:platforms: ${checked[*]} checked up to the link in $((SECONDS - started)) s" >&2
fi
[ ${#built[@]} -gt 0 ] || exit 0
for target in "${built[@]}"; do nice -n 10 node scripts/build-target.mjs "$target"; done
tests=(__test__/platforms.test.mjs)
[[ " ${built[*]} " == *-linux-* ]] && tests+=(__test__/registry-install.test.mjs)
PARTNER_SYNC_REQUIRE_PLATFORMS=$(IFS=,; echo "${built[*]}") npx vitest run "${tests[@]}"
