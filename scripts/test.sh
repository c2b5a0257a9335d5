#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need,
# checks formatting and lints, then runs every test of the workspace. The
# README's second command, and what .ci/run calls.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-test-deps.sh
export PATH="$root/.venv/bin:$PATH"
export BLOCKSCONVERT_TEST_REQUIRE_TOOLS=1

# Lint gates first: they are cheap next to the tests, and clippy's check
# build shares nothing with the test build, so a failure here costs little.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --locked --profile ci "$@"
else
  cargo test --workspace --no-fail-fast --locked "$@"
fi
