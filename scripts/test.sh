#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need,
# then runs every test of the workspace. The README's second command.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-test-deps.sh
export PATH="$root/.venv/bin:$PATH"
export BLOCKSCONVERT_TEST_REQUIRE_TOOLS=1
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --profile ci "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
