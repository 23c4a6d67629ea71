#!/usr/bin/env bash
# README command 2: install the dependencies, build and install mvc, run every test (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
MVC_WERROR="${MVC_WERROR:-ON}" scripts/build.sh   # warning-free: a new warning fails CI
scripts/install.sh   # $MVC_PREFIX, default /usr/local: what a user of the README gets
cd "${MVC_BUILD_DIR:-build}"
# Slow cases carry the label "slow" (docs/conventions.md, "Tests"): run them with ctest -L slow.
ctest --output-on-failure -j "${MVC_JOBS:-$(nproc)}" -LE slow "$@"
