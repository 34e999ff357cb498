#!/usr/bin/env bash
# Downloads (here, where Debian's registry is reachable) the .deb files of the few C/C++ libraries sgt builds
# against, into third_party/debs/ (git-ignored), so that scripts/gpu_check.sh can unpack them on a GPU machine that
# has CUDA, PyTorch, CMake and Ninja but no network and no Debian -dev packages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/third_party/debs"
mkdir -p "$out"
pkgs=(nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev googletest
      libspng-dev libspng0 libarchive-dev libarchive13 libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev
      libjpeg62-turbo libutf8proc-dev libutf8proc2 pkgconf pkgconf-bin libpkgconf3 zlib1g-dev
      libacl1-dev libattr1-dev libbz2-dev liblzma-dev libzstd-dev liblz4-dev libxml2-dev libnettle8 libxml2
      libb2-1 liblz4-1 libzstd1 libbz2-1.0 liblzma5 libacl1 libicu72)
cd "$out"
apt-get download "${pkgs[@]}" >/dev/null
ls -1 "$out" | wc -l | xargs echo "[fetch_debs] .deb files in $out:"
