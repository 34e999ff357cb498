#!/usr/bin/env python3
"""Reference POPE scores for tests/eval/test_pope.cpp, following the rules of the official evaluation scripts
(RUCAIBox/POPE evaluate.py, LLaVA llava/eval/eval_pope.py, BAGEL eval/vlm/eval/pope/eval_pope.py), restated here
from their behaviour rather than copied:

  * an answer reads "no" when, after cutting the text at its first '.', deleting every ',' and splitting on single
    spaces (str.split(' ')), one of the words is exactly "No", "not" or "no"; otherwise it reads "yes";
  * a label "no" is the negative class, anything else the positive (yes) class;
  * answers and labels are paired by their position in the two files (as the official scripts do);
  * precision, recall, F1, accuracy and the share of "yes" predictions, yes being the positive class.

The official scripts divide by zero when a denominator is 0; this reference (like the C++ code) returns 0 there.

  pope_ref.py OUT.json LABELS_1 ANSWERS_1 [LABELS_2 ANSWERS_2 ...]
      LABELS_k: a coco_pope_<split>.json (JSON Lines with a "label" field); the split is read from the file name.
      ANSWERS_k: JSON Lines, or one JSON list, of objects with a "text" field, in the order of LABELS_k.
      OUT: {"splits": {split: {"parsed": [bool yes...], "tp", "fp", "tn", "fn", "precision", "recall", "f1",
            "accuracy", "yes_ratio"}}, "mean_f1", "mean_accuracy"}
"""
import json
import os
import re
import sys


def load_records(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def reads_yes(answer):
    first_sentence = answer.partition(".")[0]
    words = first_sentence.replace(",", "").split(" ")
    return not any(w in ("No", "not", "no") for w in words)


def safe_div(a, b):
    return a / b if b else 0.0


def score(labels, answers):
    assert len(labels) == len(answers), (len(labels), len(answers))
    parsed = [reads_yes(a) for a in answers]
    truth = [lab != "no" for lab in labels]
    tp = sum(p and t for p, t in zip(parsed, truth))
    fp = sum(p and not t for p, t in zip(parsed, truth))
    tn = sum(not p and not t for p, t in zip(parsed, truth))
    fn = sum(not p and t for p, t in zip(parsed, truth))
    precision = safe_div(tp, tp + fp)
    recall = safe_div(tp, tp + fn)
    return {"parsed": parsed, "tp": tp, "fp": fp, "tn": tn, "fn": fn, "precision": precision, "recall": recall,
            "f1": safe_div(2 * precision * recall, precision + recall), "accuracy": safe_div(tp + tn, len(parsed)),
            "yes_ratio": safe_div(sum(parsed), len(parsed))}


def main(argv):
    out_path, pairs = argv[0], argv[1:]
    assert pairs and len(pairs) % 2 == 0, "give LABELS ANSWERS pairs"
    splits = {}
    for labels_path, answers_path in zip(pairs[::2], pairs[1::2]):
        split = re.fullmatch(r"(?:.*_)?pope_([a-z]+)\.jsonl?", os.path.basename(labels_path)).group(1)
        labels = [r["label"] for r in load_records(labels_path)]
        answers = [r["text"] for r in load_records(answers_path)]
        splits[split] = score(labels, answers)
    out = {"splits": splits,
           "mean_f1": sum(s["f1"] for s in splits.values()) / len(splits),
           "mean_accuracy": sum(s["accuracy"] for s in splits.values()) / len(splits)}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1:])
