#!/usr/bin/python3
"""tests/cli/check_schema.py SCHEMA.md FILE.h5 record|train|dump

Checks an HDF5 file written by fp8sim against the table in docs/hdf5-schema.md: every
group, dataset and attribute in the file is listed (path, kind, dtype, rank), and every
required row appears in the file; the root's schema_version is the one the document's
title names. For a recording closed normally (/status/state 1 or 2) every dataset of a
point has the same number of rows and the steps increase; /status holds values the
document allows. `train` is a training recording: the `record` rows and the `train` rows.
Prints one line per problem; exit status 1 if any."""
import re
import sys

import h5py
import numpy as np

schema_path, file_path, file_kind = sys.argv[1:4]
rows = []
doc = open(schema_path, encoding="utf-8").read()
title = re.search(r"^# HDF5 schema \(schema_version (\d+)\)", doc, re.M)
if not title:
    sys.exit(f"check_schema: no '# HDF5 schema (schema_version N)' title in {schema_path}")
doc_version = int(title.group(1))
for line in doc.splitlines(True):
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


recording = file_kind in ("record", "train")
required = ("all", file_kind) + (("record",) if file_kind == "train" else ())


def applies(row):
    return row["where"] in required or row["where"] == "optional"


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

    version = f.attrs.get("schema_version")
    if recording and version != doc_version:
        problems.append(f"/@schema_version is {version!r}, the document describes {doc_version}")
    if recording and "status" in f:
        st = {k: int(f["status"][k][()]) for k in ("state", "signal", "last_step", "end_time")
              if k in f["status"]}
        if st.get("state") not in (0, 1, 2, 3):
            problems.append(f"/status/state is {st.get('state')}, not 0..3")
        if st.get("state") == 2 and st.get("signal", 0) <= 0:
            problems.append("/status: stopped (state 2) without a signal")
        if st.get("state") in (1, 2, 3) and st.get("end_time", 0) <= 0:
            problems.append("/status: closed without an end_time")
        if st.get("state") in (1, 2):  # closed normally: every column equally long
            for kind in ("quantizers", "gemms", "gradients", "train"):
                if kind not in f:
                    continue
                groups = []
                f[kind].visititems(lambda n, o: groups.append(o) if isinstance(o, h5py.Group)
                                   and "step" in o else None)
                for g in groups:
                    n = len(g["step"])
                    for c in g:
                        if len(g[c]) != n:
                            problems.append(f"{g.name}/{c}: {len(g[c])} rows, step has {n}")
                    s = g["step"][:]
                    if (s < 0).any() or (s[1:] <= s[:-1]).any():
                        problems.append(f"{g.name}/step: not increasing steps >= 0")

for r in rows:
    if r["where"] in required and not r["seen"]:
        problems.append(f"schema row {r['path']} ({r['where']}) has no object in the file")
for p in problems:
    print(p)
print(f"check_schema: {len(rows)} schema rows, {len(problems)} problems")
sys.exit(1 if problems else 0)
