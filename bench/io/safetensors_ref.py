#!/usr/bin/env python3
"""Python side of bench_safetensors: one measurement per process, JSON on stdout.

  make PATH GB          write a safetensors file of about GB gigabytes (64 MiB F32 tensors, bf16 mix)
  load_file PATH        safetensors.torch.load_file: time to all tensors, peak RSS
  safe_open PATH        safe_open: time to first tensor, then to all tensors, peak RSS
"""
import json
import resource
import sys
import time

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def touch(t):
    # Reads every element once, as the C++ side does, so that lazily mapped pages are really loaded.
    return float(t.float().sum()) if t.dtype == torch.bfloat16 else float(t.sum())


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "make":
        gb = float(sys.argv[3])
        g = torch.Generator().manual_seed(0)
        tensors, total, i = {}, 0, 0
        while total < gb * 1e9:  # 64 MiB F32 tensors, every fourth one BF16
            t = torch.randn(4096, 4096, generator=g)
            t = t if i % 4 else t.to(torch.bfloat16)
            tensors[f"layers.{i}.weight"] = t
            total += t.numel() * t.element_size()
            i += 1
        save_file(tensors, path)
        return
    base = rss_mb()
    t0 = time.perf_counter()
    if mode == "load_file":
        d = load_file(path)
        ready = time.perf_counter() - t0
        first = None
        s = sum(touch(v) for v in d.values())
        total = time.perf_counter() - t0
    elif mode == "safe_open":
        with safe_open(path, "pt") as f:
            keys = list(f.keys())
            t = f.get_tensor(keys[0])
            ready = time.perf_counter() - t0
            s = touch(t)
            first = time.perf_counter() - t0
            for k in keys[1:]:
                s += touch(f.get_tensor(k))
            total = time.perf_counter() - t0
    print(json.dumps({"ready_s": ready, "first_s": first, "all_s": total, "peak_rss_mb": rss_mb(), "base_rss_mb": base, "checksum": s}))


if __name__ == "__main__":
    main()
