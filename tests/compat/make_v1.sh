#!/usr/bin/env bash
# Writes tests/compat/v1/: a repository's files exactly as mvc 0.1 (config format 1, pointer
# format 1, mvc.arch/1) wrote them, kept byte for byte so that every later mvc is tested on
# reading them (docs/conventions.md, "Compatibility"). Run once per format version with the mvc
# of that version: scripts/make_v1.sh BUILD_DIR. The weights are fixed numbers (no RNG), so the
# files are the same on every machine.
set -euo pipefail
mvc="$(cd "${1:?usage: make_v1.sh BUILD_DIR}" && pwd)/bin/mvc"
out="$(cd "$(dirname "$0")" && pwd)/v1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
git init -q -b main r && cd r
git config user.name compat && git config user.email compat@mvc.local
"$mvc" init >/dev/null
mkdir -p models/clf
cat > models/clf/arch.toml <<'TOML'
format = "mvc.arch/1"
name = "compat-v1"

[inputs]
x = { shape = ["batch", 3], dtype = "float32" }

[[layers]]
name = "fc"
type = "Linear"
in_features = "${hparams.inputs}"
out_features = 2
TOML
printf 'inputs = 3\nlr = 0.001\n' > models/clf/hparams.toml
printf 'accuracy = 0.5\n' > models/clf/metrics.toml
# safetensors by hand: fc.bias [2] and fc.weight [2, 3], float32 little-endian.
/usr/bin/python3 - <<'PY'
import json, struct
bias = [0.5, -0.25]
weight = [1.0, 2.0, 3.0, -1.0, -2.0, -3.0]
data = struct.pack("<2f", *bias) + struct.pack("<6f", *weight)
header = {"__metadata__": {"format": "pt"},
          "fc.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "fc.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [8, 32]}}
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
open("models/clf/weights.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
"$mvc" commit models/clf -m v1 >/dev/null
rm -rf "$out" && mkdir -p "$out/.mvc" "$out/models/clf"
cp .mvc/config.toml .mvc/.gitignore "$out/.mvc/"
cp models/clf/{arch.toml,hparams.toml,metrics.toml,weights.safetensors,weights.safetensors.mvc,.gitignore} "$out/models/clf/"
echo "wrote $out"
