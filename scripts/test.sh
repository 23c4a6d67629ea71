#!/usr/bin/env bash
# README command 2: install the dependencies, build mvc from scratch, run every test (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${MVC_BUILD_DIR:-build}"
# Slow cases carry the label "slow" (docs/conventions.md, "Tests"): run them with ctest -L slow.
ctest --output-on-failure -j "${MVC_JOBS:-$(nproc)}" -LE slow "$@"
