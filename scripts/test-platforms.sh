#!/usr/bin/env bash
# `npm run test:platforms [-- <triple> ...]`: builds each target with `npm run build:target` (the three
# Linux ones and x86_64-pc-windows-gnu by default), then runs the platform tests on them, each on its own
# Node (musl, arm64 under qemu, Windows Node under Wine), and, when a Linux target is among them, the
# local-registry install test. Installs its tools first (scripts/platform-tools.sh).
# The PostgreSQL outbox part needs PARTNER_SYNC_TEST_POSTGRES, as `npm test` does (.ci/run starts one).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu x86_64-pc-windows-gnu)

PARTNER_SYNC_PLATFORM_TOOLS=$(bash scripts/platform-tools.sh)
export PARTNER_SYNC_PLATFORM_TOOLS
for target in "${targets[@]}"; do nice -n 10 node scripts/build-target.mjs "$target"; done
tests=(__test__/platforms.test.mjs)
[[ " ${targets[*]} " == *-linux-* ]] && tests+=(__test__/registry-install.test.mjs)
PARTNER_SYNC_REQUIRE_PLATFORMS=$(IFS=,; echo "${targets[*]}") npx vitest run "${tests[@]}"
