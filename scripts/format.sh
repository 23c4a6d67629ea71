#!/usr/bin/env bash
# Formats the C++ tree with .clang-format (docs/conventions.md, "Formatting").
#   scripts/format.sh          rewrite every file that is not formatted
#   scripts/format.sh --check  list them and exit 1 (CTest runs this as format.check)
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
mapfile -t files < <(git ls-files -- 'include/*.h' 'include/*.h.in' 'src/*.h' 'src/*.cpp' 'tests/*.h' 'tests/*.cpp' \
  'examples/*.cpp' 'examples/*.h' 'bench/*.cpp' 'bench/*.h' 'python/*.cpp' 'python/*.h' | grep -v '\.in$' || true)
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    "$CLANG_FORMAT" --style=file "$f" | cmp -s - "$f" || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'not formatted (run scripts/format.sh): %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files formatted"
else
  "$CLANG_FORMAT" --style=file -i "${files[@]}"
fi
