#!/usr/bin/env bash
# Builds and runs one libFuzzer target with ASan + UBSan (clang), torch-free.
#   fuzz/run.sh NAME SECONDS [OUT_DIR]
# NAME: the executable fuzz_NAME of the project's fuzz build (fuzz/CMakeLists.txt: fuzz/fuzz_NAME.cpp linked with the
# torch-free layer targets it names). That build lives in $SGT_FUZZ_BUILD_DIR (default build/fuzz-build), is
# configured there on first use (clang++, -DSGT_FUZZ_BUILD=ON) and built with Ninja; the binary is copied to
# OUT_DIR/fuzz_NAME.
# Seeds come from fuzz/corpus/NAME/ (committed) and, if present, OUT_DIR/seeds/; new inputs go to OUT_DIR/corpus.
# Exits non-zero on a build failure and on any crash or sanitizer report.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$1"; seconds="${2:-60}"; out="${3:-$root/build/fuzz/$name}"
build="${SGT_FUZZ_BUILD_DIR:-$root/build/fuzz-build}"
mkdir -p "$out/corpus" "$out/seeds" "$build"
bin="$out/fuzz_$name"
# ctest runs the fuzz entries side by side (ctest -j): one configure + build at a time in the shared folder, since
# two Ninja runs in one folder race on its outputs and logs. The fuzzing below runs in parallel.
(
  flock 9
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DSGT_FUZZ_BUILD=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      >/dev/null
  fi
  cmake --build "$build" --target "fuzz_$name"
  # A copy, renamed into place: a fuzzer still running from OUT_DIR keeps its binary, and OUT_DIR keeps the binary
  # its corpus and artifacts came from.
  cp "$build/fuzz/fuzz_$name" "$bin.tmp"
  mv -f "$bin.tmp" "$bin"
) 9>"$build/.run.lock"
seed_dirs=("$out/seeds")
[ -d "$root/fuzz/corpus/$name" ] && seed_dirs+=("$root/fuzz/corpus/$name")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" \
  "$out/corpus" "${seed_dirs[@]}" 2>&1 | tail -n 25
echo "fuzz_$name: no crash in ${seconds}s"
