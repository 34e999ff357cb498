#!/usr/bin/env python3
"""Reads `sgt world` shards with the reference libraries (webdataset grouping, pycocotools RLE, PIL images) and
prints one JSON line per sample: key, extensions, image size, and per annotation (area, bbox, pixel count of the
decoded mask, pixel count of depth == round(255*depth) inside the mask). The C++ test compares these with its
own reading of the same shards.

usage: world_ref.py SHARD [SHARD ...]
"""
import io
import json
import sys

import numpy as np
import webdataset as wds
from PIL import Image
from pycocotools import mask as mask_utils


def main(paths):
    ds = wds.WebDataset(paths, shardshuffle=False)
    for sample in ds:
        key = sample["__key__"]
        exts = sorted(k for k in sample if not k.startswith("__"))
        img = Image.open(io.BytesIO(sample["jpg"]))
        depth = np.array(Image.open(io.BytesIO(sample["depth.png"])))
        ann = json.loads(sample["json"])
        scene = json.loads(sample["scene.json"])
        out = []
        for a, o in zip(ann["annotations"], scene["objects"]):
            rle = {"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()}
            m = mask_utils.decode(rle)
            dv = int(round(255 * o["depth"]))
            out.append({
                "area": int(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "pixels": int(m.sum()),
                "depth_match": int(((depth == dv) & (m == 1)).sum()),
            })
        print(json.dumps({"key": key, "exts": exts, "size": [img.width, img.height], "mode": img.mode,
                          "annotations": out}))


if __name__ == "__main__":
    main(sys.argv[1:])
