#!/usr/bin/env bash
# Configures and builds mvc into ./build (or $MVC_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MVC_BUILD_DIR:-build}"
JOBS="${MVC_JOBS:-$(nproc)}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${MVC_BUILD_TYPE:-RelWithDebInfo}" -DMVC_WERROR="${MVC_WERROR:-OFF}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
