#!/usr/bin/env bash
# Prepares a fresh machine: Debian packages (when missing) and the project virtualenv with the pinned PyPI torch
# (libtorch for the build) and the Python reference packages the tests compare against. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

debs=(cmake ninja-build ccache g++ pkg-config python3-venv nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
      libjpeg62-turbo-dev libturbojpeg0-dev libspng-dev libpng-dev libarchive-dev zlib1g-dev libssl-dev
      libgloo-dev)  # gloo headers for c10d's ProcessGroupGloo.hpp (docs/distributed.md)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
t0=$SECONDS
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "[dev] Debian packages: $((SECONDS - t0)) s"

t0=$SECONDS

py="${SGT_BOOTSTRAP_PYTHON:-python3}"
stamp=".venv/.sgt-requirements"
want="$(cat requirements/torch.txt requirements/reference.txt | sha256sum | cut -c1-16)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] creating .venv (torch and the Python references; a few minutes the first time)"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements/torch.txt -r requirements/reference.txt
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import torch; print('[setup] torch', torch.__version__)"
echo "[dev] .venv: $((SECONDS - t0)) s"
