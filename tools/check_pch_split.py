#!/usr/bin/env python3
"""Checks each layer's split of sources between the torch precompiled header and plain compilation
(tests/CMakeLists.txt, ctest -R PchSplit; DEVELOPERS.md "Build").

sgt_add_layer(NAME [TORCH] SOURCES ... PLAIN_SOURCES ...) gives SOURCES of a TORCH layer the shared torch PCH and
compiles PLAIN_SOURCES (and every source of a non-TORCH layer) without it. A file that reaches a libtorch header
(torch/, ATen/, c10/), directly or through the project's own headers, must be in SOURCES of a TORCH layer (without
the PCH it re-parses libtorch, ~25 s more per file); a file that does not must not be there (loading the PCH costs
~14 s). Prints each misplaced file with the include chain that decides it.

    check_pch_split.py [ROOT]      exit 0: every file placed right; 1: misplaced files
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
SRC = os.path.join(ROOT, "src")
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]', re.M)
TORCH_PREFIXES = ("torch/", "ATen/", "c10/", "caffe2/")
memo = {}


def torch_chain(path):
    """The include chain from `path` to a libtorch header, or None."""
    if path in memo:
        return memo[path]
    memo[path] = None  # cycles (pragma once) end here
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # Includes inside #ifdef SGT_WITH_CUDA still count: the CUDA build compiles them with the same split.
    for h in INCLUDE.findall(text):
        if h.startswith(TORCH_PREFIXES):
            memo[path] = [h]
            return memo[path]
        own = os.path.join(SRC, h)
        if os.path.isfile(own):
            sub = torch_chain(own)
            if sub:
                memo[path] = [h] + sub
                return memo[path]
    return None


def layers():
    """(layer, torch?, [(file, on_pch)]) from every src/*/CMakeLists.txt, ${VAR} lists expanded."""
    for d in sorted(os.listdir(SRC)):
        cm = os.path.join(SRC, d, "CMakeLists.txt")
        if not os.path.isfile(cm):
            continue
        text = re.sub(r"#.*", "", open(cm, encoding="utf-8").read())
        variables = {m.group(1): m.group(2).split() for m in re.finditer(r"set\((\w+)\s+([^)]*)\)", text)}
        for m in re.finditer(r"sgt_add_layer\(\s*(\w+)([^)]*)\)", text):
            name, body = m.group(1), m.group(2)
            words = []
            for w in body.split():
                v = re.fullmatch(r"\$\{(\w+)\}", w)
                words += [x for x in variables.get(v.group(1), []) if x != "PARENT_SCOPE" and not x.startswith("$")] if v else [w]
            torch = "TORCH" in words
            files, mode = [], None
            for w in words:
                if w in ("SOURCES", "PLAIN_SOURCES", "DEPS", "TORCH"):
                    mode = w
                elif mode in ("SOURCES", "PLAIN_SOURCES") and w.endswith((".cpp", ".cc")):
                    files.append((os.path.join(SRC, d, w), torch and mode == "SOURCES"))
            yield name, torch, files


def main():
    bad, n = [], 0
    for name, torch, files in layers():
        for path, on_pch in files:
            n += 1
            chain = torch_chain(path)
            rel = os.path.relpath(path, ROOT)
            if chain and not on_pch:
                where = "SOURCES" if torch else "SOURCES of a TORCH layer"
                bad.append(f"{rel} (layer {name}) reaches libtorch ({' -> '.join(chain)}) but compiles without the PCH: move it to {where}")
            if on_pch and not chain:
                bad.append(f"{rel} (layer {name}) reaches no libtorch header but loads the PCH: move it to PLAIN_SOURCES")
    for b in bad:
        print(b)
    print(f"check_pch_split: {n} sources, {len(bad)} misplaced")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
