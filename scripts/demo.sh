#!/usr/bin/env bash
# A real conversion on an embedded default: generates an OpenMetrics source,
# converts it into daily blocks in a local directory used as the bucket, and
# verifies the blocks sample for sample. The README's first command.
#
# `cargo run` rather than a fixed path to the binary: it finds the binary
# wherever CARGO_TARGET_DIR (or a .cargo/config) puts it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec cargo run --release -q --bin blocksconvert -- demo "${1:-$root/demo-out}"
