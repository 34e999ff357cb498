#!/usr/bin/env python3
"""Encode throughput of the Python references on a corpus (JSONL documents), for bench/text/bench_tokenizer.

  text_bench.py --tokenizer tokenizer.json --corpus corpus.jsonl --engine hf|tiktoken --threads N [--repeat 3]

hf: HF tokenizers (Rust), encode_batch with RAYON_NUM_THREADS=N. tiktoken: an Encoding built from the same files
(ranks = the vocabulary ids, the Qwen2 split pattern, the added tokens as specials), encode_batch with N threads;
tiktoken does not NFC-normalise, so its ids can differ on text that is not in NFC. Prints "mb_per_s=X".
"""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--engine", choices=["hf", "tiktoken"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(a.threads)  # before tokenizers starts its pool
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if a.threads > 1 else "false"
    docs = [json.loads(line) for line in open(a.corpus, encoding="utf-8") if line.strip()]
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    if a.engine == "hf":
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(a.tokenizer)

        def run():
            return tok.encode_batch(docs, add_special_tokens=False)
    else:
        import tiktoken

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from text_corpus import char_to_byte

        tj = json.load(open(a.tokenizer, encoding="utf-8"))
        char_byte = char_to_byte()
        ranks = {bytes(char_byte[ch] for ch in s): i for s, i in tj["model"]["vocab"].items()}
        pattern = tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
        specials = {t["content"]: t["id"] for t in tj["added_tokens"]}
        enc = tiktoken.Encoding("qwen2", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)

        def run():
            if a.threads == 1:
                return [enc.encode(d, allowed_special="all") for d in docs]
            return enc.encode_batch(docs, num_threads=a.threads, allowed_special="all")
    best = float("inf")
    ids = 0
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
        ids = sum(len(e.ids) if hasattr(e, "ids") else len(e) for e in out)
    print(f"mb_per_s={mb / best:.3f} seconds={best:.3f} ids={ids} mb={mb:.3f}")


if __name__ == "__main__":
    main()
