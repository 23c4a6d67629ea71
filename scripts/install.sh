#!/usr/bin/env bash
# Installs the build (./build or $MVC_BUILD_DIR) with `cmake --install` under $MVC_PREFIX
# (default /usr/local): bin/mvc, the libraries, headers, find_package(mvc) and pkg-config files,
# the Python package, man pages and bash/zsh completion (README, "Quick start").
# A prefix this user cannot write to is refused before anything is copied: one line naming the
# directory, exit 1 (docs/conventions.md, "Installing").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MVC_BUILD_DIR:-build}"
PREFIX="${MVC_PREFIX:-/usr/local}"
case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
if [ ! -f "$BUILD_DIR/cmake_install.cmake" ]; then
  echo "install: error: $BUILD_DIR: not a configured build directory (run scripts/build.sh first)" >&2
  exit 1
fi
# Every directory the install writes into, or its nearest existing parent, must be writable.
for d in "$PREFIX" "$PREFIX/bin" "$PREFIX/lib" "$PREFIX/include" "$PREFIX/share"; do
  e="$d"
  while [ ! -e "$e" ]; do e="$(dirname "$e")"; done
  if [ ! -d "$e" ]; then
    echo "install: error: $e: not a directory (install prefix $PREFIX)" >&2
    exit 1
  fi
  if [ ! -w "$e" ] || [ ! -x "$e" ]; then
    echo "install: error: $e: permission denied (install prefix $PREFIX): run as root, or set MVC_PREFIX to a directory you own, e.g. MVC_PREFIX=\$HOME/.local" >&2
    exit 1
  fi
done
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >/dev/null
echo "install: mvc installed under $PREFIX ($PREFIX/bin/mvc)"
