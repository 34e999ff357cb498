#!/usr/bin/env bash
# Builds and runs one libFuzzer target with ASan + UBSan (clang), torch-free.
#   fuzz/run.sh NAME SECONDS [OUT_DIR]
# NAME: fuzz/fuzz_NAME.cpp plus the library sources listed in fuzz/NAME.sources, linked with the system libraries
# listed in fuzz/NAME.libs (linker flags, one a line; optional).
# Seeds come from fuzz/corpus/NAME/ (committed) and, if present, OUT_DIR/seeds/; new inputs go to OUT_DIR/corpus.
# Exits non-zero on any crash or sanitizer report.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$1"; seconds="${2:-60}"; out="${3:-$root/build/fuzz/$name}"
mkdir -p "$out/corpus" "$out/seeds"
torch_inc="$("$root/.venv/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "include"))')"
srcs=()
while read -r s; do [ -n "$s" ] && srcs+=("$root/$s"); done < "$root/fuzz/$name.sources"
libs=()
if [ -f "$root/fuzz/$name.libs" ]; then
  while read -r l; do [ -n "$l" ] && libs+=("$l"); done < "$root/fuzz/$name.libs"
fi
bin="$out/fuzz_$name"
# fmt comes from libtorch's bundled headers, as in the main build (only the headers; nothing of torch is linked).
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/src" -isystem "$torch_inc" "$root/fuzz/fuzz_$name.cpp" "${srcs[@]}" "${libs[@]}" -o "$bin"
seed_dirs=("$out/seeds")
[ -d "$root/fuzz/corpus/$name" ] && seed_dirs+=("$root/fuzz/corpus/$name")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" \
  "$out/corpus" "${seed_dirs[@]}" 2>&1 | tail -n 25
echo "fuzz_$name: no crash in ${seconds}s"
