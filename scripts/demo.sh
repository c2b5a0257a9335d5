#!/usr/bin/env bash
# A real conversion on an embedded default: generates an OpenMetrics source,
# converts it into daily blocks in a local directory used as the bucket, and
# verifies the blocks sample for sample. The README's first command.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release -q --bin blocksconvert
exec "$root/target/release/blocksconvert" demo "${1:-$root/demo-out}"
