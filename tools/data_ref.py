#!/usr/bin/env python3
"""Reference outputs for the data-layer tests (tests/data/), made with pycocotools, PIL and webdataset.

Usage: data_ref.py <case> <outdir>. Every case writes its inputs and the reference's answers into outdir;
raw pixel buffers are row-major uint8 (.raw), metadata is JSON. Seeds are fixed, so runs are reproducible.
"""
import io
import json
import os
import sys
import tarfile

import numpy as np
from PIL import Image
from pycocotools import mask as mask_util


def random_masks(rng):
    """Masks of many sizes: empty, full, single pixel, random noise, blobs (SA-1B-like), thin stripes."""
    out = []
    for h, w in [(1, 1), (1, 7), (7, 1), (2, 3), (5, 5), (16, 9), (33, 47), (64, 64), (100, 37), (240, 320)]:
        out.append(np.zeros((h, w), np.uint8))
        out.append(np.ones((h, w), np.uint8))
        one = np.zeros((h, w), np.uint8)
        one[rng.integers(h), rng.integers(w)] = 1
        out.append(one)
        for p in (0.05, 0.5, 0.95):
            out.append((rng.random((h, w)) < p).astype(np.uint8))
        out.append(blob_mask(rng, h, w))
        last = np.zeros((h, w), np.uint8)
        last[-1, -1] = 1
        out.append(last)
    stripes = np.zeros((50, 60), np.uint8)
    stripes[:, ::2] = 1
    out.append(stripes)
    out.append(np.ascontiguousarray(stripes.T))
    return out


def blob_mask(rng, h, w):
    """A union of ellipses and rectangles, like SA-1B object masks."""
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.random() * h, rng.random() * w
        ry, rx = 1 + rng.random() * h / 3, 1 + rng.random() * w / 3
        if rng.random() < 0.5:
            m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            m |= (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)
    return m.astype(np.uint8)


def encode(m):
    r = mask_util.encode(np.asfortranarray(m))
    return r


def case_rle(out):
    rng = np.random.default_rng(1234)
    cases = []
    for i, m in enumerate(random_masks(rng)):
        r = encode(m)
        m.tofile(os.path.join(out, f"mask_{i}.raw"))
        cases.append(dict(file=f"mask_{i}.raw", h=int(m.shape[0]), w=int(m.shape[1]),
                          counts=r["counts"].decode("ascii"), area=int(mask_util.area(r)),
                          bbox=[float(v) for v in mask_util.toBbox(r)],
                          decoded_equal=bool((mask_util.decode(r) == m).all())))
    json.dump(cases, open(os.path.join(out, "rle.json"), "w"))


def smooth_image(rng, w, h, channels=3):
    """Natural-looking content (gradients + blobs + some noise): JPEG artefacts resemble photos."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, channels), np.float32)
    for c in range(channels):
        img[..., c] = 128 + 60 * np.sin(xx / (7 + 13 * c) + c) * np.cos(yy / (11 + 5 * c))
    for _ in range(8):
        cy, cx, r = rng.random() * h, rng.random() * w, 5 + rng.random() * min(h, w) / 4
        img[((yy - cy) ** 2 + (xx - cx) ** 2) < r * r] = rng.random(channels) * 255
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def save_raw(out, name, im):
    a = np.asarray(im)
    a.tofile(os.path.join(out, name))
    return dict(file=name, w=im.size[0], h=im.size[1], c=1 if a.ndim == 2 else a.shape[2])


def case_image(out):
    rng = np.random.default_rng(7)
    meta = dict(jpeg=[], png=[], resize=[])
    for i, (w, h, q, sub) in enumerate([(333, 250, 90, "4:2:0"), (640, 427, 95, "4:4:4"), (97, 131, 75, "4:2:2")]):
        arr = smooth_image(rng, w, h)
        name = f"img_{i}.jpg"
        Image.fromarray(arr).save(os.path.join(out, name), quality=q, subsampling=sub)
        full = Image.open(os.path.join(out, name)).convert("RGB")
        entry = dict(file=name, full=save_raw(out, f"img_{i}_full.raw", full), draft=[])
        for d in (2, 4, 8):
            im = Image.open(os.path.join(out, name))
            im.draft("RGB", (w // d, h // d))
            im = im.convert("RGB")
            entry["draft"].append(dict(d=d, **save_raw(out, f"img_{i}_d{d}.raw", im)))
        meta["jpeg"].append(entry)
    gray = smooth_image(rng, 45, 30, 1)[..., 0]
    Image.fromarray(gray, "L").save(os.path.join(out, "gray.jpg"), quality=90)
    meta["jpeg"].append(dict(file="gray.jpg", full=save_raw(out, "gray_full.raw", Image.open(os.path.join(out, "gray.jpg"))), draft=[]))
    # PNG kinds: RGB, L, RGBA, palette, LA (16-bit kinds: case_decode); reference pixels as PIL converts them.
    rgb = smooth_image(rng, 50, 40)
    pngs = {
        "rgb.png": Image.fromarray(rgb),
        "l.png": Image.fromarray(rgb[..., 0], "L"),
        "rgba.png": Image.fromarray(np.dstack([rgb, rgb[..., 1]]), "RGBA"),
        "p.png": Image.fromarray(rgb).quantize(16),
        "la.png": Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 2]]), "LA"),
    }
    for name, im in pngs.items():
        im.save(os.path.join(out, name))
        back = Image.open(os.path.join(out, name))
        mode = {"RGB": "RGB", "L": "L", "RGBA": "RGBA", "P": "RGB", "LA": "RGBA"}[back.mode]
        meta["png"].append(dict(file=name, ref=save_raw(out, name + ".raw", back.convert(mode))))
    # Resizes of the first JPEG's decoded pixels (input given as raw so that only resizing is compared).
    src = Image.fromarray(smooth_image(rng, 301, 203))
    meta["resize_src"] = save_raw(out, "resize_src.raw", src)
    srcl = src.convert("L")
    meta["resize_src_l"] = save_raw(out, "resize_src_l.raw", srcl)
    sizes = [(150, 101), (64, 64), (512, 345), (301, 100), (1, 1), (77, 203), (602, 406), (37, 13)]
    for fname, f in (("nearest", Image.NEAREST), ("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)):
        for (w, h) in sizes:
            for tag, s in (("rgb", src), ("l", srcl)):
                name = f"resize_{fname}_{tag}_{w}x{h}.raw"
                meta["resize"].append(dict(filter=fname, src=tag, **save_raw(out, name, s.resize((w, h), f))))
    json.dump(meta, open(os.path.join(out, "image.json"), "w"))


def case_wds(out):
    import webdataset as wds
    rng = np.random.default_rng(3)
    shards = []
    for si, ext in enumerate(["tar", "tar.gz"]):
        path = os.path.join(out, f"shard-{si:03d}.{ext}")
        with wds.TarWriter(path) as w:
            for k in range(5):
                key = [f"s{si}_{k}", f"dir.with.dots/sub/s{si}_{k}", f"a/b_{k}"][k % 3]
                sample = {"__key__": key, "txt": f"text {si} {k}", "seg.png": rng.bytes(int(rng.integers(0, 300))),
                          "JSON": json.dumps({"k": k}), "cls": str(k)}
                w.write(sample)
        shards.append(path)
    # Hand-made shard: metadata members, names without a dot, dotfile in a directory, non-adjacent repeat of
    # a key (two samples), a directory entry, upper-case extensions and "./" prefixes.
    path = os.path.join(out, "shard-002.tar")
    with tarfile.open(path, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        d = tarfile.TarInfo("somedir")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
        add("__meta__", b"m")
        add("__index__/x.json", b"{}")
        add("./sa_1.jpg", b"jpg1")
        add("./sa_1.json", b"json1")
        add("README", b"no dot")
        add("dir/.hidden", b"h")
        add("dir/.other", b"h2")
        add("x.y/noext", b"n")
        add("k1.A.TXT", b"a")
        add("k2.txt", b"b")
        add("k1.b", b"c")
        add("long/" + "d" * 120 + "/name.with.many.dots.bin", b"long")
    shards.append(path)
    def read(urls):
        """webdataset's samples; split=True marks one whose key its shard already yielded (group_by_keys does not
        notice non-adjacent members and yields a second sample of the key; sgt reports it as split_sample)."""
        ds = wds.WebDataset(urls, shardshuffle=False, empty_check=False)
        samples, seen = [], set()
        for s in ds:
            fields = {k: v.hex() for k, v in s.items() if not k.startswith("__")}
            split = (s["__url__"], s["__key__"]) in seen
            seen.add((s["__url__"], s["__key__"]))
            samples.append(dict(key=s["__key__"], url=s["__url__"], fields=fields, split=split))
        return samples
    # The same shards streamed through gopen's pipe: scheme (a shell command's stdout) and its file: scheme.
    import shlex
    pipes = [f"pipe:cat {shlex.quote(p)}" for p in shards[:2]] + ["file://" + os.path.abspath(shards[2])]
    json.dump(dict(shards=shards, samples=read(shards), pipe_shards=pipes, pipe_samples=read(pipes)),
              open(os.path.join(out, "wds.json"), "w"))


def case_braces(out):
    import braceexpand
    pats = ["shard-{000..009}.tar", "a{b,c}d", "x-{1..3}-{a,b}", "{a,b{1..2}}z", "plain.tar", "p-{9..11}",
            "{0..2..2}", "{a..e}", "q{x}r", "n{-2..2}", "{007..10}", "e\\{a,b\\}"]
    json.dump({p: list(braceexpand.braceexpand(p)) for p in pats}, open(os.path.join(out, "braces.json"), "w"))


def sa1b_sample(rng, image_id, w, h, n_masks):
    arr = smooth_image(rng, w, h)
    jpg = io.BytesIO()
    Image.fromarray(arr).save(jpg, format="JPEG", quality=90)
    anns = []
    for k in range(n_masks):
        m = blob_mask(rng, h, w)
        r = encode(m)
        anns.append(dict(id=image_id * 1000 + k, segmentation=dict(size=[h, w], counts=r["counts"].decode("ascii")),
                         bbox=[float(v) for v in mask_util.toBbox(r)], area=int(mask_util.area(r)),
                         predicted_iou=float(rng.random()), stability_score=float(rng.random()),
                         crop_box=[0.0, 0.0, float(w), float(h)], point_coords=[[float(rng.random() * w), float(rng.random() * h)]]))
    doc = dict(image=dict(image_id=image_id, width=w, height=h, file_name=f"sa_{image_id}.jpg"), annotations=anns)
    return jpg.getvalue(), json.dumps(doc).encode()


def coverage(doc):
    """Per-pixel count of covering masks (uint8), decoded by pycocotools."""
    h, w = doc["image"]["height"], doc["image"]["width"]
    cov = np.zeros((h, w), np.uint8)
    for a in doc["annotations"]:
        cov += mask_util.decode(a["segmentation"])
    return cov


def case_sa1b(out):
    rng = np.random.default_rng(11)
    folder = os.path.join(out, "folder")
    os.makedirs(folder)
    samples = []
    with tarfile.open(os.path.join(out, "sa_000000.tar"), "w") as t:
        for i, (w, h, n) in enumerate([(64, 48, 5), (40, 70, 12), (100, 80, 0)]):
            image_id = [1, 10004, 223][i]
            jpg, js = sa1b_sample(rng, image_id, w, h, n)
            for ext, data in (("jpg", jpg), ("json", js)):
                ti = tarfile.TarInfo(f"./sa_{image_id}.{ext}")
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
                open(os.path.join(folder, f"sa_{image_id}.{ext}"), "wb").write(data)
            doc = json.loads(js)
            coverage(doc).tofile(os.path.join(out, f"cov_{image_id}.raw"))
            im = Image.open(io.BytesIO(jpg)).convert("RGB")
            save_raw(out, f"img_{image_id}.raw", im)
            samples.append(dict(key=f"sa_{image_id}", w=w, h=h, n=n,
                                areas=[a["area"] for a in doc["annotations"]]))
    # SGT reference layout: <root>/sam_selection/sa_X.jpg + <root>/sam_mask/sa_X.png, mask smaller than the image.
    root = os.path.join(out, "sgt")
    os.makedirs(os.path.join(root, "sam_selection"))
    os.makedirs(os.path.join(root, "sam_mask"))
    pairs = []
    for image_id, (w, h), (mw, mh) in [(5, (60, 40), (60, 40)), (6, (50, 70), (25, 35))]:
        Image.fromarray(smooth_image(rng, w, h)).save(os.path.join(root, "sam_selection", f"sa_{image_id}.jpg"), quality=92)
        colours = (rng.random((4, 3)) * 255).astype(np.uint8)
        lab = rng.integers(0, 4, (mh // 5 + 1, mw // 5 + 1)).repeat(5, 0).repeat(5, 1)[:mh, :mw]
        Image.fromarray(colours[lab]).save(os.path.join(root, "sam_mask", f"sa_{image_id}.png"))
        ipath = os.path.join(root, "sam_selection", f"sa_{image_id}.jpg")
        # BAGEL data/sam_190k.py: both RGB, the mask resized to the image size with PIL's default resample.
        image = Image.open(ipath).convert("RGB")
        mask = Image.open(ipath.replace("sam_selection", "sam_mask").replace("jpg", "png")).convert("RGB")
        mask = mask.resize(image.size)
        save_raw(out, f"sgt_img_{image_id}.raw", image)
        save_raw(out, f"sgt_mask_{image_id}.raw", mask)
        pairs.append(dict(id=image_id, w=w, h=h))
    with open(os.path.join(root, "index.txt"), "w") as f:
        for p in pairs:
            f.write(f"sam_selection/sa_{p['id']}.jpg\n\n")
        f.write("sam_selection/sa_404.jpg\n")  # target missing
    json.dump(dict(samples=samples, sgt=pairs), open(os.path.join(out, "sa1b.json"), "w"))


def png_16bit(path, arr, color_type):
    """A 16-bit PNG written by hand (PIL writes 16 bits for gray only): filter 0 rows, zlib, CRC32."""
    import struct
    import zlib
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + np.ascontiguousarray(arr[y]).astype(">u2").tobytes() for y in range(h))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def case_decode(out):
    """Four-channel JPEGs and 16-bit PNGs as PIL decodes them. ycck.jpg is written by the C++ test (libjpeg can
    write YCCK, PIL cannot); this writes cmyk.jpg (PIL: Adobe-inverted CMYK), 16-bit gray / RGB / RGBA / LA and
    8-bit gray PNGs, then records Image.open(f).convert("RGB") of every file, convert("L") of the gray ones, the
    I;16 values of 16-bit gray (numpy.asarray), pil_img2rgb's white background for RGBA (16-bit LA opens as RGBA)
    and, for JPEGs, the 1/2 draft."""
    rng = np.random.default_rng(5)
    cmyk = np.dstack([smooth_image(rng, 61, 43, 2), smooth_image(rng, 61, 43, 2)])
    Image.fromarray(cmyk, "CMYK").save(os.path.join(out, "cmyk.jpg"), quality=92)
    wide = (rng.random((37, 29)) * 65535).astype(np.uint16)
    wide[:4] = np.arange(4 * 29).reshape(4, 29)  # small values too: they survive PIL's clipping to 255
    Image.fromarray(wide).save(os.path.join(out, "gray16.png"))
    rgb16 = (rng.random((21, 17, 3)) * 65535).astype(np.uint16)
    png_16bit(os.path.join(out, "rgb16.png"), rgb16, 2)
    png_16bit(os.path.join(out, "rgba16.png"), np.dstack([rgb16, rgb16[..., :1]]), 6)
    png_16bit(os.path.join(out, "la16.png"), rgb16[..., :2], 4)
    Image.fromarray(smooth_image(rng, 19, 11, 1)[..., 0], "L").save(os.path.join(out, "gray8.png"))
    meta = []
    for name in sorted(os.listdir(out)):
        if not name.endswith((".jpg", ".png")):
            continue
        im = Image.open(os.path.join(out, name))
        e = dict(file=name, mode=im.mode, rgb=save_raw(out, name + ".rgb.raw", im.convert("RGB")))
        if im.mode in ("L", "I;16"):
            e["l"] = save_raw(out, name + ".l.raw", im.convert("L"))
            e["u16"] = dict(file=name + ".u16.raw", w=im.size[0], h=im.size[1])
            np.asarray(im).astype("<u2").tofile(os.path.join(out, e["u16"]["file"]))
        if im.mode == "RGBA":  # BAGEL data/data_utils.py pil_img2rgb: RGBA is pasted onto white with its alpha
            white = Image.new("RGB", im.size, (255, 255, 255))
            white.paste(im, mask=im.split()[3])
            e["on_white"] = save_raw(out, name + ".white.raw", white)
        if name.endswith(".jpg"):
            d = Image.open(os.path.join(out, name))
            d.draft(d.mode, (d.size[0] // 2, d.size[1] // 2))
            e["draft2"] = save_raw(out, name + ".d2.raw", d.convert("RGB"))
        meta.append(e)
    json.dump(meta, open(os.path.join(out, "decode.json"), "w"))


if __name__ == "__main__":
    case, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    {"rle": case_rle, "image": case_image, "wds": case_wds, "braces": case_braces, "sa1b": case_sa1b,
     "decode": case_decode}[case](out)
    print("ok", case)
