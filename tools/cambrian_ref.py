#!/usr/bin/env python3
"""Reference for CV-Bench answer extraction: Cambrian's rules (cambrian-mllm/cambrian, eval/eval/ade/ade_test.py and
eval/eval/omni/omni_test.py, function extract_mcq_answer and the correctness test in compute_metrics), written
from their description with Python's own string methods, which is what those rules are defined by.

    cambrian_ref.py --cases cases.json --out decisions.json
cases.json: [{"text": str, "omni": bool, "answer": "(B)", "choices": [...]}, ...]
decisions.json: [{"extracted": str, "correct": bool}, ...] in the same order.
"""
import argparse
import json

KEYWORDS = ["answer is", "answer is:", "answer:"]


def extract(text, omni):
    text = text.lower().strip()
    for key in KEYWORDS:
        if key in text:
            text = text.split(key)[-1]
    text = text.strip().rstrip(".:," if omni else ".").lstrip("(").rstrip(")")
    if len(text) > 1:
        text = text[0]
    return text


def correct(case):
    got = extract(case["text"], case["omni"])
    gt = case["answer"].lower()[1]
    if got == gt:
        return got, True
    if case["omni"]:
        k = ord(gt) - ord("a")
        if 0 <= k < len(case["choices"]) and got == case["choices"][k]:
            return got, True
    return got, False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cases = json.load(open(a.cases, encoding="utf-8"))
    out = []
    for c in cases:
        got, ok = correct(c)
        out.append({"extracted": got, "correct": ok})
    json.dump(out, open(a.out, "w", encoding="utf-8"), ensure_ascii=False)


if __name__ == "__main__":
    main()
