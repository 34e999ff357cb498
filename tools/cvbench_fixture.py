#!/usr/bin/env python3
"""Writes a small CV-Bench in the release's layouts, with pyarrow and PIL (the libraries the dataset is built with):

    cvbench_fixture.py --out DIR

DIR/test_2d.parquet, DIR/test_3d.parquet: the current release (Hugging Face nyu-visionx/CV-Bench): the fields idx,
type, task, image (an HF Image struct {bytes, path}), question, choices, answer, prompt, filename, source,
source_dataset, source_filename, target_class, target_size, bbox. DIR/test_2d.jsonl, DIR/test_3d.jsonl: the same rows
without the image. DIR/old/test.jsonl + DIR/old/img/...: the older layout (images as files).
Each item's image is a solid colour (idx * 40 % 256, 255 - idx * 40 % 256, 7) of its own size, so a reader that
pairs an item with the wrong image is caught. The correct letter is written to DIR/truth.json ({idx: "B"}).
"""
import argparse
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

ROWS = [
    # idx, type, task, source, answer letter, choices
    (0, "2D", "Count", "ADE20K", "A", ["1", "2", "3", "4"]),
    (1, "2D", "Count", "COCO", "D", ["0", "3", "2", "1"]),
    (2, "2D", "Relation", "COCO", "B", ["left", "right"]),
    (3, "3D", "Depth", "Omni3D", "A", ["lamp", "chair"]),
    (4, "3D", "Distance", "Omni3D", "B", ["table", "sofa"]),
]


def colour(idx):
    return (idx * 40 % 256, 255 - idx * 40 % 256, 7)


def png(idx):
    im = Image.new("RGB", (20 + idx, 10 + 2 * idx), colour(idx))
    b = io.BytesIO()
    im.save(b, format="PNG")
    return b.getvalue()


def record(idx, typ, task, source, letter, choices):
    q = f"Question {idx} about the {task.lower()}?"
    prompt = q + " Select from the following choices.\n" + "\n".join(
        f"({chr(65 + k)}) {c}" for k, c in enumerate(choices))
    folder = {"Count": "count", "Relation": "relation", "Depth": "depth", "Distance": "distance"}[task]
    return {
        "idx": idx, "type": typ, "task": task, "question": q, "choices": choices, "answer": f"({letter})",
        "prompt": prompt, "filename": f"img/{typ}/{folder}/{source.lower()}_{idx}.png", "source": source,
        "source_dataset": f"{source} fixture", "source_filename": f"/{source.lower()}/{idx}.jpg",
        "target_class": "chair" if source == "COCO" else None, "target_size": 1000 + idx if source == "COCO" else None,
        "bbox": [[1.0, 2.0, 3.0, 4.0]] if source == "Omni3D" else None,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(os.path.join(out, "old"), exist_ok=True)
    truth = {}
    old = []
    for typ in ("2D", "3D"):
        recs = [record(*r) for r in ROWS if r[1] == typ]
        with open(os.path.join(out, f"test_{typ.lower()}.jsonl"), "w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
        image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        table = pa.table({
            "idx": pa.array([r["idx"] for r in recs], pa.int64()),
            "type": [r["type"] for r in recs], "task": [r["task"] for r in recs],
            "image": pa.array([{"bytes": png(r["idx"]), "path": None} for r in recs], image_type),
            "question": [r["question"] for r in recs],
            "choices": pa.array([r["choices"] for r in recs], pa.list_(pa.string())),
            "answer": [r["answer"] for r in recs], "prompt": [r["prompt"] for r in recs],
            "filename": [r["filename"] for r in recs], "source": [r["source"] for r in recs],
            "source_dataset": [r["source_dataset"] for r in recs],
            "source_filename": [r["source_filename"] for r in recs],
            "target_class": pa.array([r["target_class"] for r in recs], pa.string()),
            "target_size": pa.array([r["target_size"] for r in recs], pa.int64()),
            "bbox": pa.array([r["bbox"] for r in recs], pa.list_(pa.list_(pa.float64()))),
        })
        # Two rows per row group, so the reader crosses row groups.
        pq.write_table(table, os.path.join(out, f"test_{typ.lower()}.parquet"), row_group_size=2)
        for r in recs:
            truth[r["idx"]] = r["answer"][1]
            path = os.path.join(out, "old", r["filename"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(png(r["idx"]))
            old.append(r)
    with open(os.path.join(out, "old", "test.jsonl"), "w", encoding="utf-8") as f:
        for r in old:
            f.write(json.dumps(r) + "\n")
    json.dump(truth, open(os.path.join(out, "truth.json"), "w"))


if __name__ == "__main__":
    main()
