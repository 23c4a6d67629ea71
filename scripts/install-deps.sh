#!/usr/bin/env bash
# Installs mvc's build and test dependencies from Debian's packages. Idempotent: does nothing
# when everything is already installed. Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git
  clang-format                        # the tree's format (.clang-format), checked by CTest's format.check
  libtorch-dev libgit2-dev libssl-dev libtomlplusplus-dev libcli11-dev catch2 nlohmann-json3-dev
  libzip-dev                          # torch.save (.pt) checkpoints are zip archives
  python3-torch python3-torchvision   # fixtures and reference outputs (Debian's /usr/bin/python3)
  libcurl4-openssl-dev                # S3 remotes
  python3-botocore python3-boto3      # tests: mvc's SigV4 signatures and S3 objects against AWS's client
  pybind11-dev python3-dev            # the Python package mvc (python/: mvc._core)
  python3-pytest                      # its tests (tests/python, CTest python.load)
  graphviz                            # tests: mvc show --dot is parsed by dot -Tsvg
  man-db groff-base bsdextrautils zsh # tests of the generated man pages and completion (CTest install.man, install.completion)
  libgraphviz-dev                     # mvc report lays out the architecture graph with Graphviz's libgvc/libcgraph
  chromium                            # tests: mvc report's page loaded in headless Chromium (CTest report.chromium)
  git-lfs                             # tests of mvc migrate: real Git LFS repositories (tests/cli/test_migrate.cpp)
)
# The S3 tests run the npm package s3rver on Node.js; it is installed below, never by a test.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

# Where the S3 tests find s3rver (tests/CMakeLists.txt's MVC_TEST_NODE_PREFIX must agree).
NODE_PREFIX="${MVC_TEST_NODE_PREFIX:-/opt/mvc-test-node}"
S3RVER_VERSION=3.7.1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

installed="$(node -p "require('$NODE_PREFIX/node_modules/s3rver/package.json').version" 2>/dev/null || true)"
if [ "$installed" = "$S3RVER_VERSION" ]; then
  echo "install-deps: s3rver $S3RVER_VERSION present in $NODE_PREFIX"
else
  echo "install-deps: installing s3rver $S3RVER_VERSION into $NODE_PREFIX"
  $SUDO mkdir -p "$NODE_PREFIX"
  $SUDO npm install --no-audit --no-fund --loglevel=error --prefix "$NODE_PREFIX" "s3rver@$S3RVER_VERSION"
fi
