#!/usr/bin/env python3
"""Reference for the GenEval summary: the computations of djghosh13/geneval evaluation/summary_scores.py, done the
way that script does them (pandas), on a results.jsonl, printed as JSON so that tests can compare sgt's numbers.

    geneval_summary_ref.py RESULTS.jsonl --out summary.json

summary.json: {"images", "prompts", "correct_images", "correct_prompts", "tags": {tag: score} in order of first
appearance, "overall"} where prompts are grouped by the metadata string, each tag's score is the mean over its
images and the overall score is the unweighted mean of the tag scores.
"""
import argparse
import json

import numpy as np
import pandas as pd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    df = pd.read_json(a.results, orient="records", lines=True)
    tags = {}
    for tag, task_df in df.groupby("tag", sort=False):
        tags[tag] = float(task_df["correct"].mean())
    out = {
        "images": int(len(df)),
        "prompts": int(len(df.groupby("metadata"))),
        "correct_images": float(df["correct"].mean()),
        "correct_prompts": float(df.groupby("metadata")["correct"].any().mean()),
        "tags": tags,
        "overall": float(np.mean(list(tags.values()))),
        # The checks a reader of the file relies on: metadata strings parse back to the prompt's metadata.
        "metadata_parses": all(isinstance(json.loads(m), dict) for m in df["metadata"]),
        "details_parse": all(isinstance(json.loads(d), dict) for d in df["details"]),
        "python_dumps_equal": all(json.dumps(json.loads(m)) == m for m in df["metadata"]),
    }
    json.dump(out, open(a.out, "w"))


if __name__ == "__main__":
    main()
