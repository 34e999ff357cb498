#!/usr/bin/env python3
"""Tiny training sources in every layout, and the reference's answers, for tests/train/test_sources.cpp.

Usage:
  sources_ref.py write <outdir> <vit_side> <vae_side>
      Writes SAM-SGT folders + file list, the same pairs as a webdataset tar (mask members), with masks in a folder
      and with masks in their own tar (and one that lacks sa_3),
      expected/<stem>.depth8.raw (the depth map min-max stretched to 0..255 by numpy), an extracted SA-1B folder (pycocotools RLE), LLaVA JSON array / JSONL with images under an image root
      (multi-turn, several images, text-only), the same records as parquet (llava.parquet, llava_strings.parquet;
      truncated.parquet, no_conversations.parquet for the errors), depth maps (16-bit PNG and .npy) and expected/<stem>.target.raw: the
      SGT segmentation target as BAGEL data/sam_190k.py makes it with PIL (mask.resize(image.size), bicubic) then
      brought to vae_side x vae_side with NEAREST, row-major RGB uint8.
  sources_ref.py plan <records.jsonl> <tokenizer.json> <vit_side> <vit_patch>
      For each record, the CE positions of the sample packed alone, following BAGEL data/vlm_dataset.py
      (SftJSONLIterableDataset.change_format and __iter__) and data/dataset_base.py (PackedDataset.pack_sequence):
      prints {"<line>": {"ce": [...], "labels": [...], "text_ids": [...], "length": n} | null (skipped)}.
"""
import io
import json
import os
import sys
import tarfile

import numpy as np
from PIL import Image


def smooth(rng, w, h):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 3) % 256], -1)
    noise = rng.integers(0, 40, (h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def mask_image(rng, w, h):
    """A pre-rendered colour mask (SAM-SGT sam_mask style): a few flat colour rectangles on black."""
    m = np.zeros((h, w, 3), np.uint8)
    for _ in range(3):
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        m[y0:y0 + h // 2, x0:x0 + w // 2] = rng.integers(40, 256, 3)
    return Image.fromarray(m, "RGB")


def jpeg_bytes(im):
    b = io.BytesIO()
    im.save(b, "JPEG", quality=95)
    return b.getvalue()


def png_bytes(im):
    b = io.BytesIO()
    im.save(b, "PNG")
    return b.getvalue()


def write(out, vit_side, vae_side):
    rng = np.random.default_rng(7)
    sel, msk = os.path.join(out, "sgt", "sam_selection"), os.path.join(out, "sgt", "sam_mask")
    flat = os.path.join(out, "masks_flat")
    exp = os.path.join(out, "expected")
    for d in (sel, msk, flat, exp, os.path.join(out, "sgt", "file_names")):
        os.makedirs(d, exist_ok=True)
    stems = [f"sa_{i}" for i in range(1, 7)]
    tar = tarfile.open(os.path.join(out, "sgt-000000.tar"), "w")
    tar_images = tarfile.open(os.path.join(out, "sgt-images-000000.tar"), "w")
    tar_masks = tarfile.open(os.path.join(out, "sgt-masks-000000.tar"), "w")
    tar_masks_bad = tarfile.open(os.path.join(out, "sgt-masks-bad-000000.tar"), "w")  # sa_3 missing

    def add(t, name, data):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))

    for i, stem in enumerate(stems):
        w, h = 40 + 8 * i, 36 + 4 * i
        img = smooth(rng, w, h)
        # Masks at another size than their image (SAM-SGT's masks need the resize), one at the same size.
        mask = mask_image(rng, w // 2 + 3, h // 2 + 1) if i % 3 else mask_image(rng, w, h)
        img.save(os.path.join(sel, stem + ".jpg"), quality=95)
        mask.save(os.path.join(msk, stem + ".png"))
        mask.save(os.path.join(flat, stem + ".png"))
        add(tar, stem + ".jpg", jpeg_bytes(img))
        add(tar, stem + ".mask.png", png_bytes(mask))
        add(tar_images, stem + ".jpg", jpeg_bytes(img))
        add(tar_masks, stem + ".png", png_bytes(mask))
        if stem != "sa_3":
            add(tar_masks_bad, stem + ".png", png_bytes(mask))
        # The reference: pil_img2rgb(Image.open(...)), edited_image.resize(image.size) (PIL's default: bicubic).
        ref_img = Image.open(os.path.join(sel, stem + ".jpg")).convert("RGB")
        target = Image.open(os.path.join(msk, stem + ".png")).convert("RGB").resize(ref_img.size)
        target = target.resize((vae_side, vae_side), Image.NEAREST)
        np.asarray(target, np.uint8).tofile(os.path.join(exp, stem + ".target.raw"))
        # Depth next to the image: 16-bit PNG over a narrow range (a plain 16 -> 8 bit cut would flatten it), npy.
        depth = (1000 + 3 * np.add.outer(np.arange(h), np.arange(w))).astype(np.uint16)
        Image.fromarray(depth).save(os.path.join(sel, stem + ".depth.png"))
        np.save(os.path.join(sel, stem + ".npy"), depth.astype(np.float32) / 7.0)
        d = depth.astype(np.float64)
        stretched = np.floor(255 * (d - d.min()) / (d.max() - d.min()) + 0.5).astype(np.uint8)
        stretched.tofile(os.path.join(exp, stem + ".depth8.raw"))
    tar.close()
    tar_images.close()
    tar_masks.close()
    tar_masks_bad.close()
    with open(os.path.join(out, "sgt", "file_names", "list.txt"), "w") as f:
        for stem in stems:
            f.write(os.path.join(sel, stem + ".jpg") + "\n")
        f.write("\n")  # blank lines are skipped
    with open(os.path.join(out, "sgt", "file_names", "relative.txt"), "w") as f:
        for stem in stems:
            f.write("sam_selection/" + stem + ".jpg\n")
    with open(os.path.join(out, "sgt", "file_names", "missing_mask.txt"), "w") as f:
        f.write(os.path.join(sel, "sa_1.jpg") + "\n")
        f.write(os.path.join(sel, "sa_99.jpg") + "\n")  # listed, no image
    os.makedirs(os.path.join(out, "nomask", "sam_selection"), exist_ok=True)
    smooth(rng, 32, 32).save(os.path.join(out, "nomask", "sam_selection", "sa_50.jpg"))
    with open(os.path.join(out, "nomask", "list.txt"), "w") as f:
        f.write(os.path.join(out, "nomask", "sam_selection", "sa_50.jpg") + "\n")

    # Extracted SA-1B folder: sa_X.jpg + sa_X.json with COCO RLE (pycocotools).
    from pycocotools import mask as mask_util
    sa = os.path.join(out, "sa1b")
    os.makedirs(sa, exist_ok=True)
    for k in range(1, 4):
        w, h = 48, 40
        smooth(rng, w, h).save(os.path.join(sa, f"sa_{k}.jpg"), quality=95)
        anns = []
        for j in range(2):
            m = np.zeros((h, w), np.uint8)
            m[5 + 10 * j:20 + 10 * j, 4 + 12 * j:30 + 12 * j] = 1
            r = mask_util.encode(np.asfortranarray(m))
            r["counts"] = r["counts"].decode()
            anns.append(dict(id=j, segmentation=r, bbox=[0, 0, 1, 1], area=int(m.sum()), predicted_iou=0.9,
                             stability_score=0.9, crop_box=[0, 0, w, h], point_coords=[[1, 1]]))
        json.dump(dict(image=dict(image_id=k, width=w, height=h, file_name=f"sa_{k}.jpg"), annotations=anns),
                  open(os.path.join(sa, f"sa_{k}.json"), "w"))

    # LLaVA: images under an image root, records as a JSON array and as JSONL.
    root = os.path.join(out, "llava_images")
    os.makedirs(os.path.join(root, "coco"), exist_ok=True)
    for k in range(4):
        smooth(rng, 30 + 4 * k, 28 + 2 * k).save(os.path.join(root, "coco", f"{k:03d}.jpg"), quality=95)
    records = [
        {"id": "single", "image": "coco/000.jpg",
         "conversations": [{"from": "human", "value": "<image>\nWhat colour is the sky?"},
                           {"from": "gpt", "value": "Blue."}]},
        {"id": "multi", "image": "coco/001.jpg",
         "conversations": [{"from": "human", "value": "What is shown?\n<image>"},
                           {"from": "gpt", "value": "A gradient."},
                           {"from": "human", "value": "  Is it noisy?  "},
                           {"from": "gpt", "value": "Slightly, yes."},
                           {"from": "human", "value": "Thanks"},
                           {"from": "gpt", "value": "You are welcome."}]},
        {"id": "text-only",
         "conversations": [{"from": "human", "value": "Say hello."}, {"from": "gpt", "value": "Hello!"}]},
        {"id": "two-images", "image": ["coco/002.jpg", "coco/003.jpg"],
         "conversations": [{"from": "human", "value": "<image> first, <image> second: same?"},
                           {"from": "gpt", "value": "No."}]},
        {"id": 17, "conversations": [{"from": "human", "value": "Only a question"}, {"from": "gpt", "value": ""}]},
    ]
    with open(os.path.join(out, "llava.json"), "w") as f:
        json.dump(records, f, indent=1)  # a multi-line array, as LLaVA releases it
    with open(os.path.join(out, "llava.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(out, "bad.jsonl"), "w") as f:
        f.write(json.dumps(records[0]) + "\n")
        f.write('{"id": "broken", "conversations": [\n')  # line 2: malformed
        f.write(json.dumps({"id": "lost", "image": "coco/404.jpg",
                            "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "x"}]})
                + "\n")
        f.write(json.dumps(records[2]) + "\n")
    text = json.dumps(records)
    with open(os.path.join(out, "truncated.json"), "w") as f:
        f.write(text[: len(text) * 2 // 3])
    # The same records as LLaVA-OneVision-style parquet (as the HF datasets library writes it): "image" an Image
    # struct {bytes, path} (null for none), "images" a list of them for several, "conversations" a list of structs
    # (record 4's as a JSON string, which some releases use), two row groups.
    import pyarrow as pa
    import pyarrow.parquet as pq

    def cell(path):
        return {"bytes": open(os.path.join(root, path), "rb").read(), "path": os.path.basename(path)}
    image_t = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    turn_t = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))
    rows = {"id": [], "image": [], "images": [], "conversations": []}
    for r in records:
        imgs = r.get("image")
        imgs = [] if imgs is None else [imgs] if isinstance(imgs, str) else imgs
        rows["id"].append(str(r["id"]))
        rows["image"].append(cell(imgs[0]) if len(imgs) == 1 else None)
        rows["images"].append([cell(p) for p in imgs] if len(imgs) > 1 else [])
        rows["conversations"].append(r["conversations"])
    table = pa.table({"id": pa.array(rows["id"]), "image": pa.array(rows["image"], image_t),
                      "images": pa.array(rows["images"], pa.list_(image_t)),
                      "conversations": pa.array(rows["conversations"], turn_t)})
    pq.write_table(table, os.path.join(out, "llava.parquet"), row_group_size=2)
    strings = table.set_column(3, "conversations", pa.array([json.dumps(c) for c in rows["conversations"]]))
    pq.write_table(strings, os.path.join(out, "llava_strings.parquet"), row_group_size=3)
    with open(os.path.join(out, "llava.parquet"), "rb") as f:
        whole = f.read()
    with open(os.path.join(out, "truncated.parquet"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    pq.write_table(table.drop(["conversations"]), os.path.join(out, "no_conversations.parquet"))
    # A LLaVA record inside a webdataset shard (the record's image names its member).
    with tarfile.open(os.path.join(out, "llava-000000.tar"), "w") as t:
        for k, r in enumerate(records[:3]):
            rec = dict(r)
            if "image" in rec:
                rec["image"] = "img.jpg"
                add(t, f"s{k}.jpg", open(os.path.join(root, r["image"]), "rb").read())
            add(t, f"s{k}.json", json.dumps(rec).encode())


def plan(records_path, tokenizer_path, vit_side, vit_patch):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_path)
    bos, eos = tok.token_to_id("<|im_start|>"), tok.token_to_id("<|im_end|>")
    vs, ve = tok.token_to_id("<|vision_start|>"), tok.token_to_id("<|vision_end|>")
    out = {}
    for line_no, line in enumerate(open(records_path), start=1):
        if not line.strip():
            continue
        data = json.loads(line)
        images = data.get("image")
        num_images = 0 if images is None else (len(images) if isinstance(images, list) else 1)
        # change_format
        elements = []
        for conv in data["conversations"]:
            if conv["from"] == "human":
                if "<image>" not in conv["value"]:
                    elements.append(("text", 0, conv["value"]))
                else:
                    parts = conv["value"].split("<image>")
                    for idx, text in enumerate(parts):
                        if text.strip() != "":
                            elements.append(("text", 0, text.strip()))
                        if idx != len(parts) - 1 and idx < num_images:
                            elements.append(("image", 0, None))
            elif conv["from"] == "gpt":
                elements.append(("text", 1, conv["value"]))
        plan_items = []
        for kind, loss, text in elements:
            if kind == "text":
                ids = tok.encode(text, add_special_tokens=False).ids
                if ids:
                    plan_items.append(("text", loss, ids))
            else:
                plan_items.append(("image", 0, None))
        if sum(loss for _, loss, _ in plan_items) == 0:
            out[str(line_no)] = None  # "No loss defined, skipped."
            continue
        # pack_sequence, the sample alone in its pack (no CFG: SFT splits have enable_cfg 0)
        curr, ce, labels, text_ids = 0, [], [], []
        grid = (vit_side // vit_patch) ** 2
        for kind, loss, ids in plan_items:
            if kind == "text":
                shifted = [bos] + ids
                text_ids += shifted + [eos]
                if loss:
                    ce += list(range(curr, curr + len(shifted)))
                    labels += ids + [eos]
                curr += len(shifted) + 1
            else:
                text_ids += [vs, ve]
                curr += grid + 2
        out[str(line_no)] = dict(ce=ce, labels=labels, text_ids=text_ids, length=curr)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "plan":
        plan(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(f"unknown case {sys.argv[1]}")
