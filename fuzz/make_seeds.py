#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/{tar,rle,sa1b,image,config}/ (run with the
project's .venv python: numpy, Pillow, pycocotools). The seeds are small (a few KB each) and built the way
tools/data_ref.py builds the test fixtures: pycocotools RLEs of blob masks, Pillow JPEG/PNG files of many kinds,
webdataset-style tar shards written with tarfile, SA-1B style annotation JSON, and the configs' default JSON.
Deterministic: the same files come out on every run.

  .venv/bin/python fuzz/make_seeds.py [OUT_DIR]   (default: fuzz/corpus)
"""
import gzip
import io
import json
import os
import struct
import sys
import tarfile

import numpy as np
from PIL import Image
from pycocotools import mask as mask_util

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def blob_mask(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(1, h / 2 + 1), rng.uniform(1, w / 2 + 1)
    return (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).astype(np.uint8)


def rle_of(m):
    r = mask_util.encode(np.asfortranarray(m))
    return r["counts"].decode("ascii")


def smooth_image(rng, w, h, channels=3):
    base = rng.uniform(0, 255, (h // 4 + 2, w // 4 + 2, channels))
    im = Image.fromarray(base.astype(np.uint8).squeeze()).resize((w, h), Image.BILINEAR)
    return np.asarray(im)


# ---- rle: mode byte, then the mode's layout (fuzz/fuzz_rle.cpp) ----
def seeds_rle(rng):
    masks = {
        "empty": np.zeros((5, 7), np.uint8),
        "full": np.ones((6, 4), np.uint8),
        "pixel": np.pad(np.ones((1, 1), np.uint8), ((2, 3), (4, 1))),
        "blob": blob_mask(rng, 24, 32),
        "noise": (rng.random((9, 11)) < 0.5).astype(np.uint8),
        "stripes": np.tile(np.array([[0, 1, 1, 0, 0, 0, 1]], np.uint8), (13, 3)),
        "large_runs": np.pad(np.ones((60, 70), np.uint8), ((30, 10), (40, 20))),
    }
    for name, m in masks.items():
        h, w = m.shape
        s = rle_of(m).encode()
        write("rle", f"str_{name}", bytes([0]) + struct.pack("<HH", h, w) + s)
        write("rle", f"wide_{name}", bytes([1]) + struct.pack("<II", h, w) + s)
        if h * w <= 4096:
            write("rle", f"mask_{name}", bytes([2, h, w]) + (m * rng.integers(1, 255, m.shape)).astype(np.uint8).tobytes())
        # uncompressed counts of the same mask (column-major runs starting with a 0-run)
        flat = m.flatten(order="F")
        runs, cur, n = [], 0, 0
        for v in flat:
            if v != cur:
                runs.append(n)
                n, cur = 0, v
            n += 1
        runs.append(n)
        if all(c < 65536 for c in runs) and h < 256 and w < 256:
            write("rle", f"counts_{name}", bytes([3, h, w]) + b"".join(struct.pack("<H", c) for c in runs))
    write("rle", "str_truncated", bytes([0]) + struct.pack("<HH", 4, 4) + b"1a")
    write("rle", "str_badchar", bytes([0]) + struct.pack("<HH", 4, 4) + b"0~")


# ---- sa1b: one SA-1B style annotation document ----
def sa1b_doc(rng, image_id, w, h, n, compressed=True):
    anns = []
    for k in range(n):
        m = blob_mask(rng, h, w)
        r = mask_util.encode(np.asfortranarray(m))
        seg = dict(size=[h, w], counts=r["counts"].decode("ascii"))
        if not compressed:
            flat, runs, cur, c = m.flatten(order="F"), [], 0, 0
            for v in flat:
                if v != cur:
                    runs.append(c)
                    c, cur = 0, v
                c += 1
            runs.append(c)
            seg["counts"] = runs
        anns.append(dict(id=image_id * 1000 + k, segmentation=seg, bbox=[float(v) for v in mask_util.toBbox(r)],
                         area=int(mask_util.area(r)), predicted_iou=round(float(rng.random()), 4),
                         stability_score=round(float(rng.random()), 4), crop_box=[0.0, 0.0, float(w), float(h)],
                         point_coords=[[round(float(rng.random() * w), 2), round(float(rng.random() * h), 2)]]))
    return dict(image=dict(image_id=image_id, width=w, height=h, file_name=f"sa_{image_id}.jpg"), annotations=anns)


def seeds_sa1b(rng):
    write("sa1b", "doc_small", json.dumps(sa1b_doc(rng, 1, 32, 24, 3)))
    write("sa1b", "doc_uncompressed", json.dumps(sa1b_doc(rng, 2, 16, 12, 2, compressed=False)))
    write("sa1b", "doc_wide", json.dumps(sa1b_doc(rng, 3, 120, 40, 2)))
    write("sa1b", "doc_minimal", json.dumps(dict(image=dict(image_id=4, width=3, height=2),
                                                 annotations=[dict(segmentation=dict(size=[2, 3], counts="06"))])))
    write("sa1b", "doc_empty", json.dumps(dict(image=dict(image_id=5, width=8, height=8), annotations=[])))
    write("sa1b", "doc_mismatch", json.dumps(dict(image=dict(image_id=6, width=4, height=4),
                                                  annotations=[dict(segmentation=dict(size=[4, 5], counts="0k0"))])))


# ---- image: JPEG and PNG of many kinds ----
def seeds_image(rng):
    rgb = smooth_image(rng, 16, 12)
    gray = smooth_image(rng, 13, 9, 1)
    def save(name, im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, format=fmt, **kw)
        write("image", name, b.getvalue())
    save("rgb.jpg", Image.fromarray(rgb), "JPEG", quality=80)
    save("rgb444.jpg", Image.fromarray(rgb), "JPEG", quality=70, subsampling=0)
    save("rgb422.jpg", Image.fromarray(rgb), "JPEG", quality=70, subsampling=1)
    save("progressive.jpg", Image.fromarray(rgb), "JPEG", quality=60, progressive=True)
    save("gray.jpg", Image.fromarray(gray), "JPEG", quality=75)
    save("big_dct.jpg", Image.fromarray(smooth_image(rng, 72, 40)), "JPEG", quality=30)
    save("restart.jpg", Image.fromarray(rgb), "JPEG", quality=50, restart_marker_blocks=1)
    save("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=50)
    save("rgb.png", Image.fromarray(rgb), "PNG")
    save("gray.png", Image.fromarray(gray), "PNG")
    save("rgba.png", Image.fromarray(np.dstack([rgb, rgb[..., :1]])), "PNG")
    save("la.png", Image.fromarray(np.dstack([gray, gray]), "LA"), "PNG")
    save("palette.png", Image.fromarray(rgb).quantize(8), "PNG")
    pal = Image.fromarray(rgb).quantize(4)
    save("palette_trns.png", pal, "PNG", transparency=1)
    save("gray_trns.png", Image.fromarray(gray), "PNG", transparency=7)
    save("bits1.png", Image.fromarray(gray > 128), "PNG")
    save("gray16.png", Image.fromarray((gray.astype("<u2") * 257)), "PNG")
    # Adam7 interlaced PNG written by hand (Pillow cannot write one): 5x4 gray, filter 0 everywhere.
    w, h = 5, 4
    px = smooth_image(rng, 8, 8, 1)[:h, :w]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, w, dx), range(y0, h, dy)
        if not len(xs) or not len(ys):
            continue
        for y in ys:
            raw += b"\0" + bytes(int(px[y, x]) for x in xs)
    import zlib
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    write("image", "interlaced.png", png)
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, format="JPEG")
    write("image", "truncated.jpg", b.getvalue()[: len(b.getvalue()) // 2])


# ---- tar: webdataset shards ----
def tar_bytes(members, fmt=tarfile.USTAR_FORMAT, gz=False):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif isinstance(data, tuple):  # ("link", target)
                info.type = tarfile.SYMTYPE
                info.linkname = data[1]
                t.addfile(info)
            else:
                info.size = len(data)
                info.mtime = 0
                t.addfile(info, io.BytesIO(data))
    raw = b.getvalue().rstrip(b"\0")
    raw += b"\0" * ((-len(raw)) % 512) + b"\0" * 1024  # the end-of-archive blocks without tarfile's 10 KB padding
    return gzip.compress(raw, mtime=0) if gz else raw


def seeds_tar(rng):
    wds = [("s0.jpg", b"\xff\xd8\xff jpg 0"), ("s0.json", b'{"a": 1}'), ("s0.txt", b"caption"),
           ("s1.jpg", b"\xff\xd8\xff jpg 1"), ("s1.JSON", b"{}"), ("dir/s2.cls", b"3"), ("dir/s2.seg.png", b"png")]
    write("tar", "wds_ustar.tar", tar_bytes(wds))
    write("tar", "wds_gnu.tar", tar_bytes(wds, tarfile.GNU_FORMAT))
    write("tar", "wds_pax.tar", tar_bytes(wds + [("long/" + "n" * 150 + ".txt", b"long name")], tarfile.PAX_FORMAT))
    write("tar", "wds.tar.gz", tar_bytes(wds, gz=True))
    write("tar", "meta_and_dirs.tar", tar_bytes([("__meta__", b"m"), ("__x__/y.txt", b"y"), ("d", None),
                                                 ("a.txt", b"a"), ("link.txt", ("link", "a.txt")), ("nodot", b"n"),
                                                 ("a.txt", b"dup"), ("b.txt", b"")]))
    full = tar_bytes(wds)
    write("tar", "truncated.tar", full[: 512 + 300])


# ---- config: the torch-free data configs (fuzz/fuzz_config.cpp's Top) ----
def seeds_config(rng):
    packing = dict(expected_num_tokens=16384, max_num_tokens=36864, max_num_tokens_per_sample=16384,
                   max_buffer_size=50, prefer_buffer_before=16384, text_cond_dropout_prob=0.1,
                   vit_cond_dropout_prob=0.4, vae_cond_dropout_prob=0.1, bos_id=151644, eos_id=151645,
                   vision_start_id=151652, vision_end_id=151653, vit_max_patches_per_side=70, vae_max_latent_side=64)
    task = dict(task="segment", mask_resize="nearest", min_color_distance=48, color_mode="random", canny_sigma=1.4,
                canny_low=50, canny_high=120, depth_near_bright=True, inpaint_min_frac=0.25, inpaint_max_frac=0.5,
                mae_patch=16, mae_ratio=0.5, mask_fill=128, noise_sigma=25, blur_sigma=2.0, rain_streaks_per_64k=120,
                sr_factor=4, enhance_gain=0.35)
    proxy = dict(tasks=[task, dict(task="recon"), dict(task="denoise", noise_sigma=10)], weights=[2, 1, 0.5])
    transform = dict(stride=16, min_size=512, max_size=1024, max_pixels=14 * 14 * 9 * 1024)
    world = dict(seed=0, train=1000, heldout=100, min_side=96, max_side=192, max_objects=6, samples_per_shard=500,
                 jpeg_quality=92)
    loader = dict(shards=["dir/world-train-{000000..000009}.tar"], seed=0, rank=0, world_size=1, num_workers=1,
                  decode_threads=2, shuffle_buffer=256, shuffle_shards=True, window=64, epochs=1,
                  sample_rng_per_epoch=False)
    fields = dict(flag=True, small=7, count=3, big=18446744073709551615, ratio=0.5, scale=1.5, name="x",
                  maybe=None, maybe_int=4, list=[1, 2, 3], nested=[[0.5], []], words={"a": "b"},
                  weights={"ce": 1.0, "mse": 0.25}, inner=dict(heads=4, eps=1e-6),
                  blocks=[dict(heads=2, eps=0.1)], opt_inner=dict(heads=1, eps=0.0))
    top = dict(packing=packing, proxy=proxy, transform=transform, world=world, loader=loader, fields=fields)
    write("config", "all_defaults.json", json.dumps(top, indent=1))
    write("config", "compact.json", json.dumps(top, separators=(",", ":")))
    for k, v in top.items():
        write("config", f"only_{k}.json", json.dumps({k: v}))
    write("config", "task_alone.json", json.dumps(dict(task=dict(task, task="super_resolution", sr_factor=3))))
    write("config", "empty.json", "{}")
    write("config", "unknown_key.json", json.dumps(dict(world=dict(seed=1, sides=3))))
    write("config", "bad_type.json", json.dumps(dict(packing=dict(max_num_tokens="many"))))
    write("config", "invalid.json", json.dumps(dict(world=dict(min_side=2000))))
    write("config", "malformed.json", '{"world": {"seed": 1,, }')


def main():
    rng = np.random.default_rng(26)
    seeds_rle(rng)
    seeds_sa1b(rng)
    seeds_image(rng)
    seeds_tar(rng)
    seeds_config(rng)


if __name__ == "__main__":
    main()
