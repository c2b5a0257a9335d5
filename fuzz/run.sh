#!/bin/sh
# Runs one fuzz target with libFuzzer for SECONDS (default 600), one worker,
# nicely. New inputs go to $WORK/corpus/TARGET (the committed seeds in
# fuzz/corpus/TARGET are read, never written); crashes to $WORK/artifacts/TARGET/.
# Usage: fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
set -eu
target=$1
seconds=${2:-600}
[ $# -ge 2 ] && shift 2 || shift 1
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-/tmp/blocksconvert-fuzz}
mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
cd "$here"
exec nice -n 10 cargo +nightly fuzz run -s none -a "$target" \
  "$work/corpus/$target" "$here/corpus/$target" -- \
  -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/$target/" "$@"
