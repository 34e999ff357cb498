#!/usr/bin/env python3
"""Copies a webdataset shard, renaming the members of its first samples to hostile names, for the hostile-input
tests (tests/cli/test_cli_hostile.cpp). Python's tarfile writes a member name as given (absolute, with '..'),
which is what a malicious shard would hold; its extraction filters play no part in writing.

  hostile_tar.py SRC.tar OUT.tar NEW_KEY_0 [NEW_KEY_1 ...]
      the members <key_i>.<ext> of the i-th sample of SRC become NEW_KEY_i.<ext> ("-" keeps the key); the other
      members are copied unchanged, in order. Fails when SRC has fewer samples than names.
"""
import io
import sys
import tarfile


def main():
    src, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    order = []  # sample keys in order of first appearance (webdataset groups consecutive members by key)
    with tarfile.open(src) as fin, tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as fout:
        for m in fin.getmembers():
            data = fin.extractfile(m).read() if m.isfile() else None
            key, dot, ext = m.name.partition(".")
            if key not in order:
                order.append(key)
            i = order.index(key)
            if i < len(names) and names[i] != "-":
                m.name = names[i] + dot + ext
            fout.addfile(m, None if data is None else io.BytesIO(data))
    if len(order) < len(names):
        sys.exit(f"hostile_tar.py: {src} has {len(order)} samples, fewer than the {len(names)} names given")


if __name__ == "__main__":
    main()
