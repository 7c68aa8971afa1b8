#!/usr/bin/python3
"""Writes the freedict-eng-deu subset of this folder: a few hundred entries of Debian's
dict-freedict-eng-deu as real dictd files (freedict-eng-deu.index and a gzip
freedict-eng-deu.dict.dz; dictzip is gzip with an extra header field, so plain gzip reads the
same).

usage: /usr/bin/python3 make_subset.py SOURCE_DIR OUTPUT_DIR
SOURCE_DIR holds the two files of the full dictionary (Debian: /usr/share/dictd).

The entries kept: every index line whose headword starts with "00database" (the metadata), the
first five index lines (empty headwords), every 1000th index line, and every index line of the
headwords in KEYS (the pairs the tests name). Entries are written in the order of their
original offsets, each once, and the index lines in their original order with the new offsets,
so that equal headwords keep dictd's order (increasing offset). The output is byte-for-byte
reproducible (gzip level 9, no file name, mtime 0).
"""
import gzip
import os
import sys

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

KEYS = {
    "street collection", "water column", "pedal reflector", "edit", "bomber", "levy",
    "the fold", "left parenthesis", "abide", "acute", "all rise intoned the usher",
    "national institute of occupational safety and health", "the magic flute",
    "veterinaries", "cost covering principle", "tipped", "gracefully", "white",
    "thirstiness", "honeymooners", "the nuts and bolts",
    " and they lived happily and contentedly until the end of their days",
}


def decode(s):
    v = 0
    for c in s:
        v = v * 64 + B64.index(c)
    return v


def encode(v):
    s = ""
    while True:
        s = B64[v % 64] + s
        v //= 64
        if v == 0:
            return s


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(src, "freedict-eng-deu.index"), "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if lines[-1] != "":
        sys.exit("index: no final newline")
    lines = [line.split("\t") for line in lines[:-1]]
    with gzip.open(os.path.join(src, "freedict-eng-deu.dict.dz"), "rb") as f:
        data = f.read()
    keep = [
        fields for i, fields in enumerate(lines)
        if fields[0].startswith("00database") or i < 5 or i % 1000 == 0 or fields[0] in KEYS
    ]
    entries = sorted({(decode(o), decode(n)) for _, o, n in keep})
    new_offset = {}
    body = bytearray()
    for offset, length in entries:
        new_offset[offset] = len(body)
        body += data[offset:offset + length]
    index = "".join(f"{h}\t{encode(new_offset[decode(o)])}\t{n}\n" for h, o, n in keep)
    with open(os.path.join(out, "freedict-eng-deu.index"), "wb") as f:
        f.write(index.encode("utf-8"))
    with open(os.path.join(out, "freedict-eng-deu.dict.dz"), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(bytes(body))
    print(f"{len(keep)} index lines, {len(entries)} entries, {len(body)} bytes of entries")


if __name__ == "__main__":
    main()
