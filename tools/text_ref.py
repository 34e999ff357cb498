#!/usr/bin/env python3
"""Reference outputs of HF tokenizers / transformers for the text-layer tests (tests/text/).

Id lists are written as PREFIX.ids (int32, little endian, all lists back to back) and PREFIX.offsets (int64, n + 1
list boundaries); strings as JSONL, one JSON string per line.

  encode     --tokenizer T --input DOCS.jsonl --out PREFIX [--split-special] [--transformers DIR]
  decode     --tokenizer T --ids PREFIX --out OUT.jsonl [--skip-special]
  nfc        --input DOCS.jsonl --out OUT.jsonl
  lossy      --input HEX.txt --out OUT.jsonl          (one hex byte string per line, decoded with U+FFFD)
  codepoints --tokenizer T --out PREFIX              (code points c in "a{c}a{c}{c}."; the list in PREFIX.cps)
  export-slow --tokenizer T --config C --out DIR      (vocab.json + merges.txt + tokenizer_config.json)
  flags      --tokenizer T --out DIR                  (a tokenizer.json whose added tokens use every flag, and
                                                       documents that exercise them)
  chat       --tokenizer-dir D --template FILE --cases CASES.json --out OUT.jsonl
"""
import argparse
import json
import os
import sys

import numpy as np


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, strings):
    with open(path, "w", encoding="utf-8") as f:
        for s in strings:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")


def write_ids(prefix, lists):
    offsets = np.zeros(len(lists) + 1, dtype="<i8")
    offsets[1:] = np.cumsum([len(x) for x in lists])
    flat = np.fromiter((i for x in lists for i in x), dtype="<i4", count=int(offsets[-1]))
    flat.tofile(prefix + ".ids")
    offsets.tofile(prefix + ".offsets")


def read_ids(prefix):
    flat = np.fromfile(prefix + ".ids", dtype="<i4")
    offsets = np.fromfile(prefix + ".offsets", dtype="<i8")
    return [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def hf(path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def cmd_encode(a):
    docs = read_jsonl(a.input)
    if a.transformers:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(a.transformers)
        tok._tokenizer.encode_special_tokens = a.split_special
        lists = [tok.encode(d, add_special_tokens=False) for d in docs]
    else:
        tok = hf(a.tokenizer)
        tok.encode_special_tokens = a.split_special
        lists = [e.ids for e in tok.encode_batch(docs, add_special_tokens=False)]
    write_ids(a.out, lists)


def cmd_decode(a):
    tok = hf(a.tokenizer)
    write_jsonl(a.out, tok.decode_batch(read_ids(a.ids), skip_special_tokens=a.skip_special))


def cmd_nfc(a):
    from tokenizers import normalizers

    n = normalizers.NFC()
    write_jsonl(a.out, [n.normalize_str(d) for d in read_jsonl(a.input)])


def cmd_lossy(a):
    with open(a.input) as f:
        write_jsonl(a.out, [bytes.fromhex(line.strip()).decode("utf-8", "replace") for line in f])


def codepoint_probe(c):
    ch = chr(c)
    return "a" + ch + "a" + ch + ch + "."


def cmd_codepoints(a):
    """Every code point of planes 0-3 and 14 (all assigned ones are there), every 97th of the rest (unassigned or
    private use, one class each), in a context whose ids depend on its class and its NFC behaviour."""
    tok = hf(a.tokenizer)
    cps = [c for c in range(0x110000)
           if not 0xD800 <= c <= 0xDFFF and (c < 0x40000 or 0xE0000 <= c < 0xF0000 or c % 97 == 0)]
    np.asarray(cps, dtype="<i4").tofile(a.out + ".cps")
    write_ids(a.out, [e.ids for e in tok.encode_batch([codepoint_probe(c) for c in cps], add_special_tokens=False)])


def cmd_export_slow(a):
    tj = json.load(open(a.tokenizer, encoding="utf-8"))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(tj["model"]["vocab"], f, ensure_ascii=False)
    with open(os.path.join(a.out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in tj["model"]["merges"]:
            f.write((" ".join(m) if isinstance(m, list) else m) + "\n")
    config = json.load(open(a.config, encoding="utf-8"))
    with open(os.path.join(a.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)


FLAG_TOKENS = [  # extra added tokens: content and flags (ids are assigned after the existing ones)
    {"content": "<lstrip>", "lstrip": True, "rstrip": False, "single_word": False, "normalized": False, "special": True},
    {"content": "<rstrip>", "lstrip": False, "rstrip": True, "single_word": False, "normalized": False, "special": False},
    {"content": "<both>", "lstrip": True, "rstrip": True, "single_word": False, "normalized": False, "special": True},
    {"content": "word", "lstrip": False, "rstrip": False, "single_word": True, "normalized": False, "special": False},
    {"content": "Ångström", "lstrip": False, "rstrip": False, "single_word": False, "normalized": True,
     "special": False},
    {"content": "e\u0301te\u0301", "lstrip": False, "rstrip": False, "single_word": True, "normalized": True,
     "special": True},
    {"content": "<n|special>", "lstrip": False, "rstrip": False, "single_word": False, "normalized": True,
     "special": True},
]
FLAG_DOCS = [
    "a <lstrip> b", "a\t\u3000 <lstrip>b", "<lstrip>", "x <rstrip>   y", "<rstrip>\n\n z", "p  <both>  q",
    "<both><both> <both>", "word", "a word b", "words", "sword", "word_", "word1", "éword", "word.", "(word)",
    "Ångström", "A\u030Angstro\u0308m", "\u212Bngström", "xÅngströmy", "été", "e\u0301te\u0301", "un été", "étés",
    "<n|special>", "<|im_start|> <lstrip> word<|im_end|>", " <lstrip><rstrip> word word ",
    "<|im_end|>\u0338", "<think>\u0301", "word\u0301", "<lstrip>\u0301",
]


def cmd_flags(a):
    tj = json.load(open(a.tokenizer, encoding="utf-8"))
    next_id = max(t["id"] for t in tj["added_tokens"]) + 1
    for t in FLAG_TOKENS:
        tj["added_tokens"].append(dict(id=next_id, **t))
        next_id += 1
    for t in tj["added_tokens"]:  # and flags on two of the originals
        if t["content"] == "<|im_start|>":
            t["rstrip"] = True
        if t["content"] == "<think>":
            t["lstrip"] = True
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    write_jsonl(os.path.join(a.out, "docs.jsonl"), FLAG_DOCS)


def cmd_older_added(a):
    """A tokenizer.json as an older release of the same vocabulary ships it: the added tokens with id < --below only
    (BAGEL-7B-MoT's Qwen2.5 files end at <|file_sep|> 151664; the Qwen3 files add four more)."""
    tj = json.load(open(a.tokenizer, encoding="utf-8"))
    tj["added_tokens"] = [t for t in tj["added_tokens"] if t["id"] < a.below]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)


def cmd_chat(a):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(a.tokenizer_dir)
    template = open(a.template, encoding="utf-8").read()
    out = []
    for case in json.load(open(a.cases, encoding="utf-8")):
        out.append(tok.apply_chat_template(case["messages"], chat_template=template, tokenize=False,
                                           add_generation_prompt=case.get("add_generation_prompt", False),
                                           add_vision_id=case.get("add_vision_id", False)))
    write_jsonl(a.out, out)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("encode")
    p.add_argument("--tokenizer")
    p.add_argument("--transformers")
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split-special", action="store_true")
    p = sub.add_parser("decode")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--skip-special", action="store_true")
    for name in ("nfc", "lossy"):
        p = sub.add_parser(name)
        p.add_argument("--input", required=True)
        p.add_argument("--out", required=True)
    p = sub.add_parser("codepoints")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("export-slow")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("flags")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("older-added")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--below", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("chat")
    p.add_argument("--tokenizer-dir", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--cases", required=True)
    p.add_argument("--out", required=True)
    a = ap.parse_args()
    {"encode": cmd_encode, "decode": cmd_decode, "nfc": cmd_nfc, "lossy": cmd_lossy, "codepoints": cmd_codepoints,
     "export-slow": cmd_export_slow, "flags": cmd_flags, "chat": cmd_chat,
     "older-added": cmd_older_added}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
