#!/usr/bin/python3
"""Writes the Fashion-MNIST subset of this folder: the first 1000 training and the first 500
test images with their labels, as gzip-compressed IDX files with corrected headers.

usage: /usr/bin/python3 make_subset.py SOURCE_DIR OUTPUT_DIR
SOURCE_DIR holds the four files of the full data set (Debian: /usr/share/datasets/fashion-mnist).
The output is byte-for-byte reproducible (gzip level 9, no file name, mtime 0).
"""
import gzip
import os
import struct
import sys

SUBSETS = [("train", 1000), ("t10k", 500)]


def read_idx(path, magic, ndims):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got = struct.unpack(">I", data[:4])[0]
    if got != magic:
        sys.exit(f"{path}: magic 0x{got:08x}, want 0x{magic:08x}")
    dims = list(struct.unpack(">" + "I" * ndims, data[4:4 + 4 * ndims]))
    body = data[4 + 4 * ndims:]
    item = 1
    for d in dims[1:]:
        item *= d
    if len(body) != dims[0] * item:
        sys.exit(f"{path}: header says {dims}, file holds {len(body)} bytes of data")
    return dims, item, body


def write_idx(path, magic, dims, body):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(header + body)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    for prefix, count in SUBSETS:
        for kind, magic, ndims in (("images-idx3", 0x803, 3), ("labels-idx1", 0x801, 1)):
            name = f"{prefix}-{kind}-ubyte.gz"
            dims, item, body = read_idx(os.path.join(src, name), magic, ndims)
            if dims[0] < count:
                sys.exit(f"{name}: only {dims[0]} items, want {count}")
            write_idx(os.path.join(out, name), magic, [count] + dims[1:], body[:count * item])
            print(f"{name}: {count} of {dims[0]} items")


if __name__ == "__main__":
    main()
