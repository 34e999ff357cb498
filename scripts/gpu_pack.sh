#!/usr/bin/env bash
# Here (the build machine): builds sgt and the CUDA tests with -DSGT_WITH_CUDA=ON in build-cuda/ and packs what a
# GPU machine without Debian packages needs into .devpack/ (git-ignored): the stripped binaries, the shared
# libraries they use beyond glibc and libtorch (libjpeg, libspng, libarchive and its own); the
# tokenizer travels in the working tree (assets/). scripts/gpu_run.sh unpacks and runs it there against the machine's own PyTorch 2.11 (docs/gpu.md).
#   scripts/gpu_pack.sh            then carry .devpack with the working tree
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${SGT_CUDA_BUILD_DIR:-build-cuda}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGT_WITH_CUDA=ON -DSGT_BUILD_FUZZ=OFF \
    -DSGT_BUILD_BENCH=OFF
fi
ninja -C "$build" -j "${SGT_JOBS:-$(nproc)}" sgt cuda_tests infer_cuda_tests
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for b in "$build/bin/sgt" "$build/tests/train/cuda_tests" "$build/tests/infer/infer_cuda_tests"; do
  strip --strip-debug -o "$stage/bin/$(basename "$b")" "$b"
done
# Every library the binaries load that is neither glibc's nor torch's / CUDA's (those come with the machine's torch).
ldd "$build/bin/sgt" "$build/tests/train/cuda_tests" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libdl|librt|libpthread|libutil|libgcc_s|libstdc\+\+|ld-linux)[.-]' |
  grep -v -E 'site-packages|/cuda' | while read -r l; do cp -L "$l" "$stage/lib/"; done
echo "{\"built\": \"$(date -u +%FT%TZ)\", \"commit\": \"$(git rev-parse --short HEAD)\", \"build_dir\": \"$root/$build\"}" \
  > "$stage/pack.json"
mkdir -p .devpack
tar -C "$stage" -czf .devpack/pack.tar.gz .
ls -la .devpack/pack.tar.gz
tar -tzf .devpack/pack.tar.gz | sed -n '1,40p'
