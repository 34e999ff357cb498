#!/usr/bin/env python3
"""Generates src/text/unicode_tables.cpp: the Unicode data the Qwen2 tokenizer needs, taken from the reference.

The reference (HF `tokenizers`) mixes Unicode versions: its Split regex runs on Oniguruma (Unicode 16 classes),
its NFC normaliser on the `unicode-normalization-alignments` crate (an old Unicode version), and the added-token
flags use the Rust `regex` crate (`\\w`, `\\s`). Python's `unicodedata` matches none of them exactly, so every
table is either probed from `tokenizers` itself or taken from `unicodedata` and restricted to what the reference
knows, and the result is checked against the reference before anything is written.

    .venv/bin/python tools/text_unicode_tables.py [--out src/text/unicode_tables.cpp]
"""
import argparse
import random
import sys
import unicodedata

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers

ALL = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
HF_NFC = normalizers.NFC()
HF_NFD = normalizers.NFD()


def batched(strings, fn, sep="\n", chunk=8192):
    """fn over many strings at once; sep must be a character that the transformation keeps alone."""
    out = []
    for i in range(0, len(strings), chunk):
        part = strings[i : i + chunk]
        res = fn(sep.join(part)).split(sep)
        assert len(res) == len(part)
        out.extend(res)
    return out


def regex_class(pattern):
    """Code points that Oniguruma (through tokenizers' Split) matches with a one-character pattern."""
    split = pre_tokenizers.Split(Regex(pattern), "removed")
    matched = set()
    step = 65536
    for i in range(0, len(ALL), step):
        chunk = ALL[i : i + step]
        kept = set()
        for _, (a, b) in split.pre_tokenize_str("".join(map(chr, chunk))):
            kept.update(range(a, b))
        matched.update(c for k, c in enumerate(chunk) if k not in kept)
    return matched


def added_token_class(flag):
    """Code points c that the Rust regex class behind an added-token flag accepts, probed by encoding c + token."""
    # The token "\x01\x02" cannot start one position early whatever c is, and its id (1) is no vocab id.
    tok = Tokenizer(models.BPE(vocab={"a": 0}, merges=[]))
    kw = {"single_word": True} if flag == "word" else {"lstrip": True}
    tok.add_tokens([AddedToken("\x01\x02", normalized=False, **kw)])
    tid = tok.token_to_id("\x01\x02")
    texts = [chr(c) + "\x01\x02" for c in ALL]
    res = tok.encode_batch(texts, add_special_tokens=False)
    if flag == "word":  # single_word: the token is dropped when the text before it ends with \w
        return {c for c, e in zip(ALL, res) if tid not in e.ids}
    # lstrip: the token's span swallows the \s before it
    return {c for c, e in zip(ALL, res) if tid in e.ids and e.offsets[e.ids.index(tid)][0] == 0}


def canonical_decomposition(c):
    d = unicodedata.decomposition(chr(c))
    if not d or d.startswith("<"):
        return None
    return [int(x, 16) for x in d.split()]


def nfc_tables():
    """ccc, single-level canonical decompositions and their composition flag, as the reference's NFC has them."""
    ccc = {}
    for c in ALL:
        v = unicodedata.combining(chr(c))
        if v == 0:
            continue
        # Reorder probes: U+0345 (ccc 240) before c moves behind c when 0 < ccc(c) < 240; U+0334 (ccc 1) after c
        # moves before c when ccc(c) > 1. A code point the reference does not know has ccc 0 and stays put.
        probe = "\u0345" + chr(c) if v < 240 else chr(c) + "\u0334"
        if HF_NFD.normalize_str(probe) == unicodedata.normalize("NFD", probe):
            ccc[c] = v
    decomp = {}
    for c in ALL:
        d = canonical_decomposition(c)
        if d is None:
            continue
        hf = HF_NFD.normalize_str(chr(c))
        if hf == chr(c):
            continue  # unknown to the reference's Unicode version
        assert hf == unicodedata.normalize("NFD", chr(c)), hex(c)
        composes = HF_NFC.normalize_str(unicodedata.normalize("NFD", chr(c))) == chr(c)
        decomp[c] = (d, composes)
    return ccc, decomp


class ModelNfc:
    """NFC from the generated tables, the same algorithm as src/text/unicode.cpp, to check them in Python."""

    SBase, LBase, VBase, TBase, LCount, VCount, TCount = 0xAC00, 0x1100, 0x1161, 0x11A7, 19, 21, 28
    NCount = VCount * TCount
    SCount = LCount * NCount

    def __init__(self, ccc, decomp):
        self.ccc = ccc
        self.decomp = {c: d for c, (d, _) in decomp.items()}
        self.compose = {tuple(d): c for c, (d, comp) in decomp.items() if comp and len(d) == 2}

    def decompose(self, c, out):
        if self.SBase <= c < self.SBase + self.SCount:
            s = c - self.SBase
            out.append(self.LBase + s // self.NCount)
            out.append(self.VBase + (s % self.NCount) // self.TCount)
            if s % self.TCount:
                out.append(self.TBase + s % self.TCount)
            return
        d = self.decomp.get(c)
        if d is None:
            out.append(c)
            return
        for x in d:
            self.decompose(x, out)

    def pair(self, a, b):
        if self.LBase <= a < self.LBase + self.LCount and self.VBase <= b < self.VBase + self.VCount:
            return self.SBase + ((a - self.LBase) * self.VCount + (b - self.VBase)) * self.TCount
        if self.SBase <= a < self.SBase + self.SCount and (a - self.SBase) % self.TCount == 0:
            if self.TBase < b < self.TBase + self.TCount:
                return a + (b - self.TBase)
        return self.compose.get((a, b))

    def nfc(self, s):
        buf = []
        for ch in s:
            self.decompose(ord(ch), buf)
        # canonical ordering: stable sort of each run of non-starters
        i = 0
        while i < len(buf):
            if self.ccc.get(buf[i], 0) == 0:
                i += 1
                continue
            j = i
            while j < len(buf) and self.ccc.get(buf[j], 0) != 0:
                j += 1
            buf[i:j] = sorted(buf[i:j], key=lambda x: self.ccc[x])
            i = j
        out = []
        starter = -1
        last = -1
        for c in buf:
            cc = self.ccc.get(c, 0)
            if starter >= 0 and (last < cc or last == 0):
                comp = self.pair(out[starter], c)
                if comp is not None:
                    out[starter] = comp
                    continue
            if cc == 0:
                starter = len(out)
            last = cc
            out.append(c)
        return "".join(map(chr, out))


def check_nfc(model, ccc, decomp):
    rng = random.Random(0)
    singles = [chr(c) for c in ALL if c != 10]
    bad = [s for s, h in zip(singles, batched(singles, HF_NFC.normalize_str)) if h != model.nfc(s)]
    assert not bad, f"single code points differ: {[hex(ord(s)) for s in bad[:10]]}"
    marks = sorted(ccc)
    interesting = sorted(set(marks) | set(decomp) | {c for d, _ in decomp.values() for c in d})
    hangul = list(range(0x1100, 0x1113)) + list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3))
    pool = interesting + hangul + [0xAC00, 0xAC01, 0xD7A3] + [ord(x) for x in "aeiouAEIOU "]
    tests = []
    for c in interesting:
        for m in (0x0334, 0x093C, 0x0327, 0x0301, 0x0345):
            tests += ["a" + chr(c) + chr(m), chr(m) + chr(c), chr(c) + chr(m)]
    for _ in range(300000):
        tests.append("".join(chr(rng.choice(pool)) for _ in range(rng.randint(2, 8))))
    bad = [s for s, h in zip(tests, batched(tests, HF_NFC.normalize_str)) if h != model.nfc(s)]
    assert not bad, f"sequences differ: {[[hex(ord(x)) for x in s] for s in bad[:5]]}"
    print(f"[gen] NFC model agrees with the reference on {len(singles) + len(tests)} strings", file=sys.stderr)


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def emit_ranges(name, cps):
    rs = ranges(cps)
    text = f"const CodeRange {name}[] = {{\n" + wrap(f"{{0x{a:X},0x{b:X}}}" for a, b in rs) + "};\n"
    text += f"const size_t {name}Count = {len(rs)};\n"
    return text


def wrap(items, width=110):
    out, line = [], ""
    for it in items:
        if len(line) + len(it) + 1 > width:
            out.append(line)
            line = ""
        line += it + ","
    if line:
        out.append(line)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="src/text/unicode_tables.cpp")
    args = ap.parse_args()

    letter, number, space = regex_class(r"\p{L}"), regex_class(r"\p{N}"), regex_class(r"\s")
    word, strip_space = added_token_class("word"), added_token_class("space")
    print(f"[gen] L {len(letter)} N {len(number)} \\s {len(space)} \\w {len(word)}", file=sys.stderr)
    # One whitespace table serves both the Split regex and the lstrip/rstrip flags.
    assert strip_space == space, sorted(strip_space ^ space)
    ccc, decomp = nfc_tables()
    model = ModelNfc(ccc, decomp)
    check_nfc(model, ccc, decomp)

    ccc_runs = []
    for c in sorted(ccc):
        if ccc_runs and ccc_runs[-1][1] == c - 1 and ccc_runs[-1][2] == ccc[c]:
            ccc_runs[-1][1] = c
        else:
            ccc_runs.append([c, c, ccc[c]])
    dec_items = [
        f"{{0x{c:X},0x{d[0]:X},0x{(d[1] if len(d) > 1 else 0):X},{int(comp)}}}"
        for c, (d, comp) in sorted(decomp.items())
    ]
    assert all(len(d) <= 2 for d, _ in decomp.values())

    out = [
        "// Generated by tools/text_unicode_tables.py; do not edit. Regenerate after changing the pinned tokenizers.",
        f"// Reference: tokenizers {tokenizers.__version__}; decompositions filtered from Python unicodedata "
        f"{unicodedata.unidata_version}.",
        "// Letter/Number/Space: what Oniguruma's \\p{L}, \\p{N}, \\s match in the Split pre-tokenizer.",
        "// Word: the Rust regex \\w behind the single_word added-token flag (its \\s, for lstrip/rstrip, equals Space).",
        "// Ccc/Decomposition: the canonical combining classes and one-level canonical decompositions of the",
        "// reference's NFC (flag 1: the pair recomposes, i.e. not a composition exclusion).",
        '#include "text/unicode_tables.h"',
        "",
        "namespace sgt::text::tables {",
        "",
        emit_ranges("kLetter", letter),
        emit_ranges("kNumber", number),
        emit_ranges("kSpace", space),
        emit_ranges("kWord", word),
        "const CccRange kCcc[] = {\n" + wrap(f"{{0x{a:X},0x{b:X},{v}}}" for a, b, v in ccc_runs) + "};",
        f"const size_t kCccCount = {len(ccc_runs)};",
        "",
        "const Decomposition kDecomposition[] = {\n" + wrap(dec_items) + "};",
        f"const size_t kDecompositionCount = {len(dec_items)};",
        "",
        "}  // namespace sgt::text::tables",
        "",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(out))
    print(f"[gen] wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
