#!/usr/bin/env python3
"""SA-1B-style sample pipeline in Python (PIL + pycocotools + numpy), the reference side of bench/data.

  data_bench.py make DIR N     writes N samples sa_<i>.jpg + sa_<i>.json (1500 x 2250 px, ~100 RLE masks)
  data_bench.py run DIR PROCS [SIDE] [DRAFT]  decodes (with DRAFT=1 through PIL's JPEG draft mode, i.e. DCT
                               scaling to >= SIDE), renders the colour-per-instance target, resizes both to a
                               shorter side of SIDE (512); prints {"samples", "seconds", "checksum"} as JSON
  data_bench.py shards DIR OUT PER_SHARD   packs DIR's sa_<i>.jpg + .json pairs into webdataset tar shards
                               OUT/sa-000000.tar, ... (PER_SHARD samples each; keys sa_<i>)
  data_bench.py loader WORKERS SAMPLES SHARD...  the loader-level reference (bench/data/bench_data_loader.cpp):
                               webdataset.WebDataset over the shards -> decode (PIL RGB, json, pycocotools masks,
                               colour-per-instance target) -> BAGEL's ImageTransform size (shorter side >= 512,
                               longer <= 1024, stride 16; image BICUBIC, target NEAREST), through a torch
                               DataLoader with num_workers=WORKERS (0: in the main process); SAMPLES > 0 stops
                               after that many; prints {"samples", "seconds", "cpu_seconds", "in_bytes", "out_pixels"}
                               as JSON (cpu: user + system of the process and its joined workers)

Rendering (the assumption of docs/data.md, "Mask rendering"): masks sorted by area, largest first, each painted
with colour palette[k] where k is its rank, so smaller masks overwrite larger ones; uncovered pixels stay 0.
"""
import io
import json
import os
import sys
import time
import zlib
from multiprocessing import Pool

import numpy as np
from PIL import Image
from pycocotools import mask as mask_util


def palette(n):
    """Colour k of the instance map: the same formula as bench/data/bench_data.cpp (a fixed multiplicative hash)."""
    k = np.arange(n, dtype=np.uint64)
    h = (k + np.uint64(1)) * np.uint64(2654435761) % np.uint64(1 << 32)
    return np.stack([(h >> np.uint64(s)) & np.uint64(255) for s in (0, 8, 16)], 1).astype(np.uint8)


def make(out, n):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    h, w = 1500, 2250
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            img[..., c] = 128 + 60 * np.sin(xx / (40 + 17 * c + i) + c) * np.cos(yy / (53 + 7 * c))
        img += rng.normal(0, 8, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(out, f"sa_{i}.jpg"), quality=90)
        anns = []
        for k in range(100):
            cy, cx = rng.random() * h, rng.random() * w
            r = 20 + rng.random() ** 2 * 500
            y0, y1 = int(max(0, cy - r)), int(min(h, cy + r + 1))
            x0, x1 = int(max(0, cx - r)), int(min(w, cx + r + 1))
            m = np.zeros((h, w), np.uint8)
            sub_y, sub_x = yy[y0:y1, x0:x1], xx[y0:y1, x0:x1]
            m[y0:y1, x0:x1] = (((sub_y - cy) / r) ** 2 + ((sub_x - cx) / (r * (0.5 + rng.random()))) ** 2) <= 1
            rle = mask_util.encode(np.asfortranarray(m))
            anns.append(dict(id=k, segmentation=dict(size=[h, w], counts=rle["counts"].decode()),
                             area=int(mask_util.area(rle)), bbox=[float(v) for v in mask_util.toBbox(rle)],
                             predicted_iou=0.9, stability_score=0.95, crop_box=[0, 0, w, h], point_coords=[[cx, cy]]))
        doc = dict(image=dict(image_id=i, width=w, height=h, file_name=f"sa_{i}.jpg"), annotations=anns)
        with open(os.path.join(out, f"sa_{i}.json"), "w") as f:
            json.dump(doc, f)


def short_side_size(w, h, side):
    return (side, round(h * side / w)) if w <= h else (round(w * side / h), side)


def process(args):
    jpg_path, side, draft = args
    with open(jpg_path, "rb") as f:
        jpg = f.read()
    with open(jpg_path[:-4] + ".json") as f:
        doc = json.load(f)
    h, w = doc["image"]["height"], doc["image"]["width"]
    size = short_side_size(w, h, side)
    image = Image.open(io.BytesIO(jpg))
    if draft:
        image.draft("RGB", size)
    image = image.convert("RGB")
    anns = sorted(doc["annotations"], key=lambda a: -a["area"])
    colours = palette(len(anns))
    target = np.zeros((h, w, 3), np.uint8)
    for k, a in enumerate(anns):
        target[mask_util.decode(a["segmentation"]).astype(bool)] = colours[k]
    image = image.resize(size, Image.BICUBIC)
    target = Image.fromarray(target).resize(size, Image.NEAREST)
    return int(np.asarray(image, np.uint64).sum() + np.asarray(target, np.uint64).sum())


def run(folder, procs, side, draft):
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".jpg"))
    t0 = time.perf_counter()
    if procs == 1:
        sums = [process((f, side, draft)) for f in files]
    else:
        with Pool(procs) as pool:
            sums = pool.map(process, [(f, side, draft) for f in files], chunksize=1)
    dt = time.perf_counter() - t0
    print(json.dumps(dict(samples=len(files), seconds=dt, checksum=int(sum(sums)))))


def make_shards(folder, out, per_shard):
    import tarfile
    os.makedirs(out, exist_ok=True)
    stems = sorted((f[:-4] for f in os.listdir(folder) if f.endswith(".jpg")), key=lambda s: int(s.split("_")[1]))
    for start in range(0, len(stems), per_shard):
        with tarfile.open(os.path.join(out, f"sa-{start // per_shard:06d}.tar"), "w") as tar:
            for stem in stems[start:start + per_shard]:
                for ext in ("jpg", "json"):
                    tar.add(os.path.join(folder, f"{stem}.{ext}"), arcname=f"{stem}.{ext}")


def bagel_transform_size(width, height, stride=16, min_size=512, max_size=1024, max_pixels=14 * 14 * 9 * 1024):
    """BAGEL's MaxLongEdgeMinShortEdgeResize output size (data/transforms.py), as (width, height)."""
    def apply_scale(w, h, scale):
        return (max(stride, round(round(w * scale) / stride) * stride),
                max(stride, round(round(h * scale) / stride) * stride))
    scale = min(max_size / max(width, height), 1.0)
    scale = max(scale, min_size / min(width, height))
    w, h = apply_scale(width, height, scale)
    if w * h > max_pixels:
        w, h = apply_scale(w, h, max_pixels / (w * h))
    if max(w, h) > max_size:
        w, h = apply_scale(w, h, max_size / max(w, h))
    return w, h


def loader_decode(sample):
    """One webdataset sample (dict of raw bytes) -> what the training step would get; returns sizes only."""
    in_bytes = sum(len(v) for k, v in sample.items() if not k.startswith("__"))
    image = Image.open(io.BytesIO(sample["jpg"])).convert("RGB")
    doc = json.loads(sample["json"])
    anns = sorted(doc["annotations"], key=lambda a: -a["area"])
    h, w = image.height, image.width
    rng = np.random.default_rng(zlib.crc32(sample["__key__"].encode()))
    colours = rng.integers(1, 256, size=(len(anns), 3), dtype=np.uint8)
    target = np.zeros((h, w, 3), np.uint8)
    for k, a in enumerate(anns):
        target[mask_util.decode(a["segmentation"]).astype(bool)] = colours[k]
    size = bagel_transform_size(w, h)
    image = image.resize(size, Image.BICUBIC)
    target = Image.fromarray(target).resize(size, Image.NEAREST)
    return in_bytes, image.width * image.height + target.width * target.height


def run_loader(workers, samples, shards):
    import torch
    import webdataset as wds
    import resource
    torch.set_num_threads(1)

    def cpu():  # this process + finished (joined) worker processes: user + system seconds
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    c0 = cpu()
    t0 = time.perf_counter()
    ds = wds.WebDataset(shards, shardshuffle=False, empty_check=False).map(loader_decode)
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    n = in_bytes = out_pixels = 0
    for b, p in dl:
        n, in_bytes, out_pixels = n + 1, in_bytes + int(b), out_pixels + int(p)
        if 0 < samples <= n:
            break
    dt = time.perf_counter() - t0
    del dl  # joins the workers, so that their CPU time is counted
    print(json.dumps(dict(samples=n, seconds=dt, cpu_seconds=cpu() - c0, in_bytes=in_bytes, out_pixels=out_pixels)))


if __name__ == "__main__":
    if sys.argv[1] == "shards":
        make_shards(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "loader":
        run_loader(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    elif sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 512,
            len(sys.argv) > 5 and sys.argv[5] == "1")
