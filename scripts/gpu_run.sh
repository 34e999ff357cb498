#!/usr/bin/env bash
# On a GPU machine with PyTorch 2.11 (CUDA 13) in its python3, over a checkout that carries .devpack/ from
# scripts/gpu_pack.sh: runs `sgt env`, the CUDA tests (CUDA against the CPU), stage 1 of the main job for 60 steps
# with each attention implementation (their step times side by side), and the main job on CUDA in each precision
# of $SGT_GPU_PRECISIONS (default "fp32 bf16"); $SGT_GPU_SKIP lists steps to leave out (e.g. "infer_cuda_tests"). OUT_DIR gets summary.txt, each run's summary.json and held-out grid, and all.tar.gz with every log and
# output (few files: the device tool brings back at most eight) (docs/gpu.md).
#   scripts/gpu_run.sh [OUT_DIR] [TUNE_TIMEOUT_S] [BUDGET_S]
# BUDGET_S (default 520) bounds the whole script: a main-job run gets what is left of it, up to TUNE_TIMEOUT_S.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
final="${1:-${OUT:-$root/gpu-out}}"
tune_timeout="${2:-240}"
budget="${3:-520}"
out="$(mktemp -d)/gpu-run"
mkdir -p "$out" "$final"
cd "$root"
pack="$root/.devpack"
tar -xzf "$pack/pack.tar.gz" -C "$pack" || { echo "no .devpack/pack.tar.gz: run scripts/gpu_pack.sh here first"; exit 2; }
# The binaries hold the build machine's paths (sources, build folder); give them the same paths here.
built="$(python3 -c "import json; print(json.load(open('$pack/pack.json'))['build_dir'])")"
src="$(dirname "$built")"
if [ "$src" != "$root" ]; then mkdir -p "$(dirname "$src")" && ln -sfn "$root" "$src"; fi
mkdir -p "$built/bin" && cp "$pack/bin/sgt" "$built/bin/sgt"
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$pack/lib:$torch_lib:${LD_LIBRARY_PATH:-}"
# The tokenizer and the other data files travel with the working tree (assets/).
export SGT_ASSETS_DIR="$root/assets"
step() {  # step NAME TIMEOUT CMD...: runs CMD with a time limit, logs to OUT/NAME.log, reports the status and time
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "[gpu_run] $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$out/summary.txt"
  tail -n 5 "$out/$name.log"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.txt" 2>&1
python3 -c 'import torch; print("python torch", torch.__version__, torch.version.cuda)' >> "$out/gpu.txt" 2>&1
cat "$pack/pack.json" >> "$out/gpu.txt"
cat "$out/gpu.txt"
skip=" ${SGT_GPU_SKIP:-} "
step env 60 "$built/bin/sgt" env
[[ "$skip" == *" cuda_tests "* ]] || step cuda_tests 150 "$pack/bin/cuda_tests"
[[ "$skip" == *" infer_cuda_tests "* ]] || step infer_cuda_tests 120 "$pack/bin/infer_cuda_tests"
if [[ "$skip" != *" attention "* ]]; then
  for att in splitwise packed; do
    step "attention_$att" 90 "$built/bin/sgt" tune --run-dir "/tmp/sgt-att-$att" --device cuda --attention "$att" \
      --pretrain-steps 60 --steps 0 --no-eval
    python3 - "$att" "/tmp/sgt-att-$att/stage1/metrics.jsonl" <<'PY' 2>&1 | tee -a "$out/summary.txt"
import json, statistics, sys
m = [json.loads(l) for l in open(sys.argv[2])][10:]  # after the first steps' warm-up
print(f"[gpu_run] attention {sys.argv[1]}: {statistics.mean(x['seconds'] for x in m) * 1e3:.1f} ms per step "
      f"(compute {statistics.mean(x['compute_s'] for x in m) * 1e3:.1f} ms), loss at step 60 {m[-1]['loss']:.6f}")
PY
  done
fi
for prec in ${SGT_GPU_PRECISIONS:-fp32 bf16}; do
  left=$((budget - SECONDS - 15))
  if [ "$left" -lt 60 ]; then echo "[gpu_run] tune_$prec: skipped, ${left} s of the budget left" | tee -a "$out/summary.txt"; continue; fi
  run="/tmp/sgt-main-$prec"
  rm -rf "$run"
  step "tune_$prec" "$((left < tune_timeout ? left : tune_timeout))" "$built/bin/sgt" tune --run-dir "$run" --device cuda --precision "$prec"
  for f in summary.json heldout_grid.png loss_curves.png; do
    [ -f "$run/$f" ] && cp "$run/$f" "$out/${prec}_$f"
  done
  [ -f "$run/metrics.jsonl" ] && tail -n 3 "$run/metrics.jsonl" > "$out/${prec}_metrics_tail.jsonl"
done
cat "$out/summary.txt"
cp "$out/summary.txt" "$final/"
for f in fp32_summary.json bf16_summary.json fp32_heldout_grid.png bf16_heldout_grid.png; do
  [ -f "$out/$f" ] && cp "$out/$f" "$final/"
done
tar -C "$(dirname "$out")" -czf "$final/all.tar.gz" gpu-run
