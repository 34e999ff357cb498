#!/usr/bin/env python3
"""Builds the tokenizer parity / benchmark corpus: a deterministic list of documents (JSONL, one string per line).

Sources are what every machine with the project has: English prose (the Python reference manual in pydoc_data, the
project's docs/*.md pages and prompt fixtures), source code (the Python standard library), and text assembled from
the Qwen vocabulary and from Unicode ranges for the scripts and hard cases the tokenizer must get right: CJK,
Arabic, Devanagari, emoji and ZWJ sequences, combining marks that NFC reorders or composes, digit runs, long
whitespace runs, mixed line ends, special-token strings inside text, and random bytes decoded with U+FFFD
replacement.

    text_corpus.py --out corpus.jsonl [--mb 7] [--seed 0] [--mix full|prose-code] [--tokenizer tokenizer.json]
                   [--raw corpus.txt]
"""
import argparse
import glob
import json
import os
import random
import sysconfig
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
ASSETS = os.path.join(ROOT, "assets")  # the data files the project ships (assets/README.md)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def chunks(text, rng, lo=200, hi=4000):
    """Cuts text into documents of random length (cuts anywhere, mid-word and mid-line included)."""
    out, i = [], 0
    while i < len(text):
        n = rng.randint(lo, hi)
        out.append(text[i : i + n])
        i += n
    return out


def prose(rng):
    stdlib = sysconfig.get_paths()["stdlib"]
    texts = [read(os.path.join(stdlib, "pydoc_data", "topics.py"))]
    texts += [read(p) for p in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
    for p in sorted(glob.glob(os.path.join(ASSETS, "geneval", "*.jsonl"))):
        texts += [json.loads(line).get("prompt", "") for line in open(p, encoding="utf-8") if line.strip()]
    instr = json.load(open(os.path.join(ASSETS, "sgt-prompts", "instructions.json"), encoding="utf-8"))
    for v in instr.values():
        texts += v if isinstance(v, list) else [str(v)]
    return chunks("\n".join(texts), rng)


def code(rng, budget):
    stdlib = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(stdlib, "*.py")) + glob.glob(os.path.join(stdlib, "*", "*.py")))
    rng.shuffle(files)
    out, size = [], 0
    for p in files:
        if size > budget:
            break
        t = read(p)
        if rng.random() < 0.3:  # Windows line ends on some files
            t = t.replace("\n", "\r\n")
        docs = chunks(t, rng, 500, 6000)
        out += docs
        size += len(t)
    return out


def char_to_byte():
    """GPT-2's byte-level map, character -> byte: how vocabulary strings spell raw bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def vocab_words(tokenizer_path):
    """Vocabulary entries as text, grouped by script: real words and word pieces of each language."""
    tok = json.load(open(tokenizer_path, encoding="utf-8"))
    char_byte = char_to_byte()
    groups = {"cjk": [], "kana": [], "hangul": [], "arabic": [], "devanagari": [], "cyrillic": [], "other": []}
    for s in tok["model"]["vocab"]:
        try:
            w = bytes(char_byte[c] for c in s).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            continue
        core = w.strip()
        if not core:
            continue
        names = {unicodedata.name(c, "").split(" ")[0] for c in core}
        if names & {"CJK"}:
            groups["cjk"].append(w)
        elif names & {"HIRAGANA", "KATAKANA"}:
            groups["kana"].append(w)
        elif names & {"HANGUL"}:
            groups["hangul"].append(w)
        elif names & {"ARABIC"}:
            groups["arabic"].append(w)
        elif names & {"DEVANAGARI"}:
            groups["devanagari"].append(w)
        elif names & {"CYRILLIC"}:
            groups["cyrillic"].append(w)
        elif any(ord(c) > 0x7F for c in core):
            groups["other"].append(w)
    return groups


def script_docs(rng, groups, n_docs):
    punct = {"cjk": "，。！？、；：「」（）", "kana": "。、！？「」", "hangul": ".,!? ", "arabic": "،؛؟.! ",
             "devanagari": "।॥,.? ", "cyrillic": ".,!?;: ", "other": ".,;:!? "}
    out = []
    for _ in range(n_docs):
        g = rng.choice(list(groups))
        words = groups[g]
        parts = []
        for _ in range(rng.randint(20, 300)):
            parts.append(rng.choice(words))
            r = rng.random()
            if r < 0.15:
                parts.append(rng.choice(punct[g]))
            elif r < 0.18:
                parts.append(rng.choice(["\n", "\n\n", " ", "  ", "\t", str(rng.randint(0, 99999))]))
            elif r < 0.22:
                parts.append(" " + rng.choice(["the", "and", "GPU", "BAGEL", "2025", "x86_64", "OK"]) + " ")
        sep = "" if g in ("cjk", "kana") and rng.random() < 0.7 else " "
        out.append(sep.join(parts) if rng.random() < 0.5 else "".join(parts))
    return out


RANGES = {
    "cjk": [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0xF900, 0xFAFF), (0x3000, 0x303F)],
    "arabic": [(0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)],
    "devanagari": [(0x0900, 0x097F), (0xA8E0, 0xA8FF), (0x0980, 0x09FF), (0x0B80, 0x0BFF)],
    "hangul": [(0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F)],
    "marks": [(0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F)],
    "digits": [(0x30, 0x39), (0x660, 0x669), (0x966, 0x96F), (0xFF10, 0xFF19), (0x2070, 0x2079), (0x2160, 0x2188)],
    "space": [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200B),
              (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0x180E, 0x180E)],
}


def rchar(rng, key):
    lo, hi = rng.choice(RANGES[key])
    return chr(rng.randint(lo, hi))


EMOJI = [0x1F600, 0x1F44D, 0x1F468, 0x1F469, 0x1F467, 0x1F466, 0x2764, 0x1F525, 0x1F680, 0x1F1FA, 0x1F1F8,
         0x1F3F3, 0x26A7, 0x1F9D1, 0x1F4BB, 0x1F30D, 0x2603, 0x1F408, 0x2B1B]


def emoji_seq(rng):
    r = rng.random()
    if r < 0.3:  # ZWJ family / profession sequences, optionally with skin tones and VS16
        n = rng.randint(2, 5)
        parts = []
        for _ in range(n):
            e = chr(rng.choice(EMOJI))
            if rng.random() < 0.3:
                e += chr(rng.randint(0x1F3FB, 0x1F3FF))
            if rng.random() < 0.3:
                e += "\uFE0F"
            parts.append(e)
        return "\u200D".join(parts)
    if r < 0.5:  # flags: regional indicator pairs, tag sequences
        if rng.random() < 0.7:
            return chr(rng.randint(0x1F1E6, 0x1F1FF)) + chr(rng.randint(0x1F1E6, 0x1F1FF))
        return "\U0001F3F4" + "".join(chr(0xE0000 + ord(c)) for c in "gbsct") + "\U000E007F"
    if r < 0.6:  # keycaps
        return rng.choice("#*0123456789") + "\uFE0F\u20E3"
    return chr(rng.randint(0x1F300, 0x1FAFF))


def nfc_hard(rng):
    """Text NFC changes: decomposed accents, marks out of canonical order, Hangul jamo, singletons, exclusions."""
    r = rng.random()
    if r < 0.3:
        base = rng.choice("aeiouAEIOUnNcCsSzZyYgk")
        marks = [rng.choice("\u0300\u0301\u0302\u0303\u0308\u030A\u030C\u0327\u0328\u0323\u0331\u0345\u0334\u031B")
                 for _ in range(rng.randint(1, 4))]
        return base + "".join(marks)
    if r < 0.45:  # conjoining jamo L V (T)
        s = chr(rng.randint(0x1100, 0x1112)) + chr(rng.randint(0x1161, 0x1175))
        return s + (chr(rng.randint(0x11A8, 0x11C2)) if rng.random() < 0.5 else "")
    if r < 0.6:  # singletons and exclusions: Angstrom, Ohm, Kelvin, CJK compatibility, Devanagari nukta letters
        return rng.choice(["\u212B", "\u2126", "\u212A", "\u0958", "\u0959", "\u095A", "\u0344", "\u0F73",
                           "\u2000", "\u1FEE", "\u0374", "\u037E", "\u0387"] + [chr(rng.randint(0xF900, 0xFA6D))])
    if r < 0.8:
        return rchar(rng, "marks") + rchar(rng, "marks")
    return rng.choice(["Å", "é", "ñ", "ü", "Ǖ", "ǖ", "ṩ", "ệ"])


SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
            "<think>", "</think>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|file_sep|>", "<|box_start|>",
            "<|im_sta", "im_end|>", "<|<|im_end|>|>", "<tool_response>", "<|quad_end|>", "<|video_pad|>"]


def mixed_doc(rng, words):
    """Everything at once: the hard cases interleaved with ordinary words."""
    parts = []
    for _ in range(rng.randint(30, 400)):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(words))
        elif r < 0.42:
            parts.append(rng.choice(SPECIALS))
        elif r < 0.5:
            parts.append(emoji_seq(rng))
        elif r < 0.58:
            parts.append(nfc_hard(rng))
        elif r < 0.64:  # digit runs, ASCII and not
            parts.append("".join(rchar(rng, "digits") for _ in range(rng.randint(1, 40))))
        elif r < 0.7:  # whitespace runs with mixed line ends
            parts.append("".join(rng.choice([" ", " ", "\t", "\n", "\r\n", "\r", rchar(rng, "space")])
                                 for _ in range(rng.randint(1, 64))))
        elif r < 0.75:
            parts.append(rng.choice(["'s", "'T", "'re", "'VE", "'m", "'LL", "'d", "'ſ", "'x", "''", "n't", "I'M"]))
        elif r < 0.8:
            parts.append("".join(rchar(rng, rng.choice(["cjk", "arabic", "devanagari", "hangul"]))
                                 for _ in range(rng.randint(1, 30))))
        elif r < 0.85:  # any code point of any plane, assigned or not
            parts.append("".join(chr(c) for c in (rng.randint(0, 0x10FFFF) for _ in range(rng.randint(1, 8)))
                                 if not 0xD800 <= c <= 0xDFFF))
        elif r < 0.9:
            parts.append("".join(rng.choice("!@#$%^&*()_+-=[]{};:'\",.<>/?\\|`~\0\x01\x7f") for _ in
                                 range(rng.randint(1, 12))))
        else:
            parts.append(rng.choice([" ", "", "\n"]))
    return "".join(parts)


def random_bytes_doc(rng):
    n = rng.randint(16, 4096)
    if rng.random() < 0.5:
        raw = bytes(rng.randrange(256) for _ in range(n))
    else:  # valid UTF-8 with some bytes corrupted, truncated sequences and stray continuation bytes
        s = "".join(chr(rng.randint(0x80, 0x10FFFF)) for _ in range(n // 3))
        b = bytearray(s.encode("utf-8", "surrogatepass"))
        for _ in range(max(1, len(b) // 50)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        raw = bytes(b)
    return raw.decode("utf-8", "replace")


def build(mb, seed, tokenizer, mix="full"):
    rng = random.Random(seed)
    if mix == "prose-code":  # ordinary text only: English prose and source code
        docs = prose(rng)
        docs += code(rng, max(0, mb * 1_000_000 - sum(len(d.encode("utf-8")) for d in docs)))
        rng.shuffle(docs)
        return docs
    groups = vocab_words(tokenizer)
    words = [w for g in groups.values() for w in g[:5000]] + "the quick brown fox jumps over a lazy dog".split()
    docs = prose(rng)
    docs += script_docs(rng, groups, 1500)
    docs += [mixed_doc(rng, words) for _ in range(700)]
    docs += [random_bytes_doc(rng) for _ in range(150)]
    # long whitespace and digit runs, and a few large documents
    docs += [" " * rng.randint(100, 5000) + "x", "\n" * 3000 + "end", "\t \t\r\n" * 500, "9" * 10000,
             "a" * 20000, "٣" * 3000, "🙂" * 2000, "<|im_end|>" * 500]
    size = sum(len(d.encode("utf-8")) for d in docs)
    docs += code(rng, max(0, mb * 1_000_000 - size))
    rng.shuffle(docs)
    return docs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--mb", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", default=os.path.join(ASSETS, "qwen-tokenizer", "tokenizer.json"))
    ap.add_argument("--mix", choices=["full", "prose-code"], default="full",
                    help="full: every hard case (the parity corpus); prose-code: English prose and source code only")
    ap.add_argument("--raw", help="also write the documents back to back as one text file (for benchmarks)")
    args = ap.parse_args()
    docs = build(args.mb, args.seed, args.tokenizer, args.mix)
    with open(args.out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    if args.raw:
        with open(args.raw, "w", encoding="utf-8", newline="") as f:
            f.write("".join(docs))
    print(f"{len(docs)} documents, {sum(len(d.encode('utf-8')) for d in docs) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
