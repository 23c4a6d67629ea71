#!/usr/bin/env bash
# Installs mvc's build and test dependencies from Debian's packages. Idempotent: does nothing
# when everything is already installed. Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libtorch-dev libgit2-dev libssl-dev libtomlplusplus-dev libcli11-dev catch2 nlohmann-json3-dev
  libzip-dev                          # torch.save (.pt) checkpoints are zip archives
  python3-torch python3-torchvision   # fixtures and reference outputs (Debian's /usr/bin/python3)
  libcurl4-openssl-dev                # S3 remotes
  python3-botocore python3-boto3      # tests: mvc's SigV4 signatures and S3 objects against AWS's client
)
# The S3 tests run the npm package s3rver on Node.js (installed by the tests themselves).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
