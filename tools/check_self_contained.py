#!/usr/bin/env python3
"""Fails when the project's code or scripts reach outside the checkout for data (tests/CMakeLists.txt, ctest -R
SelfContained).

The project must run from a clone with nothing beside it: data files live in assets/ (assets/README.md). This walks
src/, tests/, tools/, bench/, fuzz/, scripts/, cmake/, .ci/, dev and the CMakeLists, and reports every line that
names the steering repository's shared folder or a machine-specific absolute location (a home, a work or mount
folder). System paths (/usr, /proc, /dev, /etc) and scratch files under /tmp are allowed.

    check_self_contained.py [ROOT]     exit 0: clean; exit 1: prints FILE:LINE: TEXT for each finding
    check_self_contained.py --self-test   plants each kind of finding in a scratch tree and checks all are found
"""
import os
import re
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WALK = ["src", "tests", "tools", "bench", "fuzz", "scripts", "cmake", ".ci"]
FILES = ["dev", "CMakeLists.txt", "CMakePresets.json"]
# The patterns are assembled so that this file does not match itself.
SHARED = "sha" + "red"
PATTERNS = [
    (re.compile(r"\.\./" + SHARED + r"\b"), "the shared folder beside the checkout"),
    (re.compile(SHARED + r"/fixtures"), "the shared fixtures (use assets/)"),
    (re.compile(r"SGT_" + SHARED.upper() + r"_DIR"), "the old shared-folder variable (use SGT_ASSETS_DIR)"),
    (re.compile(r"(?<![\w.~-])/(work|home|root|mnt|media|Users|scratch|srv)/"), "a machine-specific absolute path"),
]
TEXT_EXT = {".cpp", ".h", ".hpp", ".cc", ".c", ".cu", ".py", ".sh", ".txt", ".cmake", ".json", ".md", ".jinja", ""}


def files():
    for d in WALK:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, d)):
            dirnames[:] = [n for n in dirnames if n not in ("__pycache__",)]
            for n in sorted(filenames):
                if os.path.splitext(n)[1] in TEXT_EXT:
                    yield os.path.join(dirpath, n)
    for f in FILES:
        p = os.path.join(ROOT, f)
        if os.path.isfile(p):
            yield p


def scan():
    findings, scanned = [], 0
    for path in files():
        scanned += 1
        with open(path, encoding="utf-8", errors="replace") as fh:
            for no, line in enumerate(fh, 1):
                for rx, why in PATTERNS:
                    if rx.search(line):
                        findings.append(f"{os.path.relpath(path, ROOT)}:{no}: {why}: {line.strip()[:160]}")
    return findings, scanned


def self_test():
    global ROOT
    planted = {
        "src/a.cpp": 'const char* p = "../' + SHARED + '/x.json";\n',
        "tests/b.h": "// reads " + SHARED + "/fixtures/qwen\n",
        "scripts/c.sh": "export SGT_" + SHARED.upper() + "_DIR=/x\n",
        "tools/d.py": 'open("/' + 'work/data.json")\n',
        "dev": "cat /" + "home/me/notes\n",
        "bench/clean.cpp": 'const char* ok = "/tmp/scratch /proc/self/exe /usr/bin/env";\n',
    }
    with tempfile.TemporaryDirectory() as d:
        for rel, text in planted.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)) or d, exist_ok=True)
            with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                f.write(text)
        ROOT = d
        findings, scanned = scan()
    found = sorted({f.split(":")[0] for f in findings})
    want = sorted(k for k in planted if k != "bench/clean.cpp")
    print(f"self-test: {scanned} files, findings in {found}")
    return 0 if found == want and scanned == len(planted) else 1


def main():
    global ROOT
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    if len(sys.argv) > 1:
        ROOT = os.path.abspath(sys.argv[1])
    findings, scanned = scan()
    for f in findings:
        print(f)
    print(f"check_self_contained: {scanned} files, {len(findings)} findings")
    return 1 if findings or scanned == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
