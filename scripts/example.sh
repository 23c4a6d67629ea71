#!/usr/bin/env bash
# README command 1: install the dependencies, build and install mvc, and run the bundled example —
# train a model in LibTorch, commit two versions, restore version 1 and check that the
# rebuilt model reproduces version 1's outputs exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
MVC_WERROR="${MVC_WERROR:-ON}" scripts/build.sh   # as scripts/test.sh: its build then reuses this one
scripts/install.sh   # $MVC_PREFIX, default /usr/local: mvc on PATH, the library, the Python package
exec examples/quickstart/run.sh "${MVC_BUILD_DIR:-build}"
