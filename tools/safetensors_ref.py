#!/usr/bin/env python3
"""Reference side of the safetensors parity tests (uses the PyPI `safetensors` package, which we did not write).

  write DIR          writes DIR/all_dtypes.safetensors (random tensors of every dtype, with __metadata__),
                     a sharded checkpoint DIR/sharded/ (two shards + model.safetensors.index.json), and
                     DIR/expected.json describing every tensor (dtype, shape, little-endian bytes as hex).
  check FILE JSON    loads FILE with safetensors.torch.load_file and checks it against JSON written by the C++
                     side (same layout as expected.json); exits non-zero with a message on any difference.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U64": torch.uint64, "U32": torch.uint32, "U16": torch.uint16, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
NAMES = {v: k for k, v in DTYPES.items()}


def raw_hex(t):
    return t.contiguous().view(-1).view(torch.uint8).numpy().tobytes().hex() if t.numel() else ""


def random_tensor(name, shape, gen):
    dt = DTYPES[name]
    if dt.is_floating_point:
        return (torch.randn(shape, generator=gen, dtype=torch.float32) * 3).to(dt)
    if dt == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    info = torch.iinfo(dt)
    lo, hi = max(info.min, -(2 ** 40)), min(info.max, 2 ** 40)
    return torch.randint(lo, hi, shape, generator=gen, dtype=torch.int64).to(dt)


def describe(tensors):
    return {k: {"dtype": NAMES[v.dtype], "shape": list(v.shape), "hex": raw_hex(v)} for k, v in tensors.items()}


def write(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    shapes = [(3, 5), (7,), (2, 3, 4), (1,)]
    tensors = {}
    for i, name in enumerate(DTYPES):
        tensors[f"t.{name.lower()}"] = random_tensor(name, shapes[i % len(shapes)], gen)
    tensors["scalar.f32"] = torch.tensor(2.5)
    tensors["empty.f32"] = torch.zeros(0, 4)
    meta = {"format": "pt", "note": "written by safetensors " + __import__("safetensors").__version__}
    save_file(tensors, os.path.join(out, "all_dtypes.safetensors"), metadata=meta)
    # A sharded checkpoint in the HF layout.
    shard_dir = os.path.join(out, "sharded")
    os.makedirs(shard_dir, exist_ok=True)
    shard_a = {f"layers.{i}.weight": torch.randn(4, 4, generator=gen) for i in range(3)}
    shard_b = {f"layers.{i}.weight": torch.randn(4, 4, generator=gen) for i in range(3, 5)}
    shard_b["head.bias"] = torch.randn(4, generator=gen).to(torch.bfloat16)
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    save_file(shard_a, os.path.join(shard_dir, names[0]), metadata={"format": "pt"})
    save_file(shard_b, os.path.join(shard_dir, names[1]), metadata={"format": "pt"})
    weight_map = {k: names[0] for k in shard_a}
    weight_map.update({k: names[1] for k in shard_b})
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    expected = {"tensors": describe(tensors), "metadata": meta, "sharded": describe({**shard_a, **shard_b})}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


def check(path, expected_path):
    with open(expected_path) as f:
        expected = json.load(f)
    got = load_file(path)
    problems = []
    if set(got) != set(expected["tensors"]):
        problems.append(f"names differ: {sorted(set(got) ^ set(expected['tensors']))}")
    for k, e in expected["tensors"].items():
        if k not in got:
            continue
        t = got[k]
        if NAMES.get(t.dtype) != e["dtype"] or list(t.shape) != e["shape"] or raw_hex(t) != e["hex"]:
            problems.append(f"{k}: python sees {NAMES.get(t.dtype)} {list(t.shape)}")
    with safe_open(path, "pt") as f:
        if (f.metadata() or {}) != expected.get("metadata", {}):
            problems.append(f"metadata differs: {f.metadata()}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {len(got)} tensors bit-exact")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        sys.exit(2)
