#!/usr/bin/env bash
# The bundled example: version and restore a real LibTorch model with mvc.
#   examples/quickstart/run.sh [BUILD_DIR]
# Creates a fresh git repository in a temp directory, trains Linear(10,20)-ReLU-Linear(20,1)
# in LibTorch, commits it as v1, trains further and commits v2, then checks out v1, rebuilds
# it from arch.toml and checks that it reproduces v1's outputs bit for bit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../../build}" && pwd)"
export PATH="$build/bin:$PATH"
work="$(mktemp -d "${TMPDIR:-/tmp}/mvc-quickstart-XXXXXX")"
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

step "A fresh git repository with mvc"
mkdir -p "$work/demo" && cd "$work/demo"
git init -q -b main
git config user.name "Quickstart User"
git config user.email "quickstart@example.com"
run mvc init
mkdir -p models/clf
cp "$here/model/arch.toml" "$here/model/hparams.toml" models/clf/
run cat models/clf/arch.toml

step "Train v1 in LibTorch (50 steps) and commit it"
run mvc-example train models/clf --steps 50 --seed 0
run mvc commit models/clf -m "baseline: 50 SGD steps" --tag clf-v1
run mvc-example predict models/clf --out "$work/v1-outputs.safetensors"

step "Train further (200 steps) and commit v2"
run mvc-example train models/clf --steps 200
run mvc status
run mvc commit models/clf -m "200 more steps" --tag clf-v2
run mvc log models/clf
run git log --oneline --decorate

step "Restore v1: files, weights (hash-verified), rebuilt from arch.toml and loaded strictly"
run mvc checkout clf-v1 -- models/clf
run mvc show clf-v1:models/clf
run mvc-example predict models/clf --out "$work/restored-outputs.safetensors"

step "Check: the restored v1 reproduces v1's outputs exactly"
run mvc-example compare "$work/v1-outputs.safetensors" "$work/restored-outputs.safetensors"
printf '\nOK: v1 restored from git + the mvc cache reproduces its outputs bit for bit.\n'
