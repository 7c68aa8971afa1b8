#!/usr/bin/python3
"""tests/cli/check_schema.py SCHEMA.md FILE.h5 record|dump

Checks an HDF5 file written by fp8sim against the table in docs/hdf5-schema.md: every
group, dataset and attribute in the file is listed (path, kind, dtype, rank), and every
required row appears in the file. Prints one line per problem; exit status 1 if any."""
import re
import sys

import h5py
import numpy as np

schema_path, file_path, file_kind = sys.argv[1:4]
rows = []
for line in open(schema_path, encoding="utf-8"):
    if not line.startswith("| `/"):
        continue
    cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
    path, kind, dtype, shape, _unit, where = cells[:6]
    path = path.strip("`")
    obj, _, attr = path.partition("@")
    regex = "^" + re.sub(r"\\\{[a-z]+\\\}", "[^/@]+", re.escape(obj)) + "$"
    attr_re = "^" + re.sub(r"\\\{[a-z]+\\\}", "[0-9]+", re.escape(attr)) + "$" if attr else None
    rows.append(dict(path=path, kind=kind, dtype=dtype, shape=shape, where=where,
                     obj=re.compile(regex), attr=re.compile(attr_re) if attr_re else None,
                     seen=False))
if len(rows) < 50:
    sys.exit(f"check_schema: only {len(rows)} rows parsed from {schema_path}")

problems = []


def dtype_ok(want, value_dtype, is_string):
    if want == "string":
        return is_string
    allowed = want.split("\\|")
    return any(np.dtype(a) == value_dtype for a in allowed) and not is_string


def rank_ok(shape, got):
    if shape == "scalar":
        return got == ()
    if shape == "-":
        return True
    if shape == "[...]":
        return True
    return len(got) == shape.count(",") + 1


def applies(row):
    return row["where"] in ("all", file_kind, "optional")


def match(name, attr, kind):
    for r in rows:
        if r["kind"] != kind or not applies(r):
            continue
        if not r["obj"].match(name):
            continue
        if (attr is None) != (r["attr"] is None):
            continue
        if attr is not None and not r["attr"].match(attr):
            continue
        return r
    return None


def check_attrs(name, obj):
    for a in obj.attrs:
        r = match(name, a, "attribute")
        if r is None:
            problems.append(f"attribute {name}@{a} is not in the schema")
            continue
        r["seen"] = True
        v = obj.attrs.get_id(a)
        is_string = h5py.check_string_dtype(v.dtype) is not None
        if not dtype_ok(r["dtype"], v.dtype, is_string):
            problems.append(f"{name}@{a}: dtype {v.dtype}, schema says {r['dtype']}")
        if not rank_ok(r["shape"], v.shape):
            problems.append(f"{name}@{a}: shape {v.shape}, schema says {r['shape']}")


with h5py.File(file_path, "r", swmr=True) as f:
    check_attrs("/", f)

    def visit(name, obj):
        full = "/" + name
        kind = "dataset" if isinstance(obj, h5py.Dataset) else "group"
        r = match(full, None, kind)
        if r is None:
            problems.append(f"{kind} {full} is not in the schema")
            return
        r["seen"] = True
        if kind == "dataset":
            if not dtype_ok(r["dtype"], obj.dtype, False):
                problems.append(f"{full}: dtype {obj.dtype}, schema says {r['dtype']}")
            if not rank_ok(r["shape"], obj.shape):
                problems.append(f"{full}: shape {obj.shape}, schema says {r['shape']}")
            if r["shape"] == "[steps, bins]":
                bins = obj.parent.attrs["histogram_binades"] + 2
                if obj.shape[1] != bins:
                    problems.append(f"{full}: {obj.shape[1]} bins, attributes say {bins}")
        check_attrs(full, obj)

    f.visititems(visit)

for r in rows:
    if r["where"] in ("all", file_kind) and not r["seen"]:
        problems.append(f"schema row {r['path']} ({r['where']}) has no object in the file")
for p in problems:
    print(p)
print(f"check_schema: {len(rows)} schema rows, {len(problems)} problems")
sys.exit(1 if problems else 0)
