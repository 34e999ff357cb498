#!/usr/bin/env python3
"""Copies a webdataset shard with the jpg of its first non-square sample transposed by PIL (width and height
swapped, its SA-1B json unchanged), for the size-mismatch tests (tests/cli/test_cli_data_errors.cpp).

  transpose_tar.py SRC.tar OUT.tar
      prints the key of the transposed sample and the sizes "key WxH->HxW"; fails when every jpg is square.
"""
import io
import sys
import tarfile

from PIL import Image


def main():
    src, out = sys.argv[1], sys.argv[2]
    done = None
    with tarfile.open(src) as fin, tarfile.open(out, "w") as fout:
        for m in fin.getmembers():
            data = fin.extractfile(m).read() if m.isfile() else None
            if done is None and m.name.endswith(".jpg"):
                im = Image.open(io.BytesIO(data))
                if im.size[0] != im.size[1]:
                    buf = io.BytesIO()
                    im.transpose(Image.Transpose.TRANSPOSE).save(buf, format="JPEG", quality=90)
                    data = buf.getvalue()
                    m.size = len(data)
                    done = f"{m.name[:-4]} {im.size[0]}x{im.size[1]}->{im.size[1]}x{im.size[0]}"
            fout.addfile(m, None if data is None else io.BytesIO(data))
    if done is None:
        sys.exit(f"transpose_tar.py: every jpg of {src} is square")
    print(done)


if __name__ == "__main__":
    main()
