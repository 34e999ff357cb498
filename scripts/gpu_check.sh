#!/usr/bin/env bash
# Builds sgt with CUDA and runs the test-suite on a GPU machine that has PyTorch 2.11 (CUDA 13), cmake and ninja
# but no network and no Debian packages. Run scripts/fetch_debs.sh first on a networked machine and carry
# third_party/debs/ along (and, for the parity tests, the Python reference wheels: see docs/gpu.md).
#   scripts/gpu_check.sh [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/build-gpu-logs}"
mkdir -p "$out"
deps="$root/.deps/root"
rm -rf "$deps" && mkdir -p "$deps"
for f in "$root"/third_party/debs/*.deb; do dpkg-deb -x "$f" "$deps"; done
multi="$deps/usr/lib/x86_64-linux-gnu"
export PATH="$deps/usr/bin:$PATH"
export PKG_CONFIG_PATH="$multi/pkgconfig:$deps/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$deps"   # .pc files say prefix=/usr; the sysroot moves them under .deps
export LD_LIBRARY_PATH="$multi:${LD_LIBRARY_PATH:-}"
# Unversioned .so links point at absolute /usr paths inside the packages; relink them inside .deps.
for l in "$multi"/*.so; do
  [ -L "$l" ] && ln -sf "$(basename "$(readlink "$l")")" "$l"
done
py="${SGT_PYTHON:-$(command -v python3)}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt" || true
cmake -S "$root" -B "$root/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGT_WITH_CUDA=ON \
  -DSGT_PYTHON="$py" -DCMAKE_PREFIX_PATH="$deps/usr;$multi/cmake" -DSGT_BUILD_FUZZ=OFF \
  -DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf" 2>&1 | tee "$out/configure.log"
cmake --build "$root/build-gpu" -j "$(nproc)" 2>&1 | tee "$out/build.log" | tail -n 20
"$root/build-gpu/bin/sgt" env 2>&1 | tee "$out/env.txt"
cd "$root/build-gpu" && ctest --output-on-failure -j 8 2>&1 | tee "$out/ctest.log" | tail -n 40
