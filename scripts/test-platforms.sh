#!/usr/bin/env bash
# `npm run test:platforms [-- <triple> ...]`: builds each Linux target with `npm run build:target` (all
# three by default), then runs the platform tests on them, each on its own Node (musl, arm64 under qemu),
# and the local-registry install test. Installs its tools first (scripts/platform-tools.sh).
# The PostgreSQL outbox part needs PARTNER_SYNC_TEST_POSTGRES, as `npm test` does (.ci/run starts one).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu)

PARTNER_SYNC_PLATFORM_TOOLS=$(bash scripts/platform-tools.sh)
export PARTNER_SYNC_PLATFORM_TOOLS
for target in "${targets[@]}"; do nice -n 10 node scripts/build-target.mjs "$target"; done
PARTNER_SYNC_REQUIRE_PLATFORMS=$(IFS=,; echo "${targets[*]}") \
  npx vitest run __test__/platforms.test.mjs __test__/registry-install.test.mjs
