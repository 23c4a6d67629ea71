#!/usr/bin/env bash
# README command 1: install the dependencies, build mvc, and run the bundled example —
# train a model in LibTorch, commit two versions, restore version 1 and check that the
# rebuilt model reproduces version 1's outputs exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec examples/quickstart/run.sh "${MVC_BUILD_DIR:-build}"
