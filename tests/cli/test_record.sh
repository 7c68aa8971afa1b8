#!/usr/bin/env bash
# tests/cli/test_record.sh — recording, reports, dumps and tensor inputs end to end: what
# `gemm --record` writes matches docs/hdf5-schema.md, h5py and h5dump read it, a recording
# killed with SIGKILL keeps every flushed step and says it was killed, one stopped by
# SIGTERM/SIGINT says so with its step, `report` refuses forged recordings (unknown
# schema_version, missing or mistyped columns, short columns, negative counts) and dump
# files, summarizes a training recording (/train, its columns those of the schema), existing files are refused, bad outputs give one clear line and leave no file.
# Needs $FP8SIM_EXE and $FP8SIM_SCHEMA (set by meson).
set -uo pipefail
exe="${FP8SIM_EXE:?}"
schema="${FP8SIM_SCHEMA:?}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
expect() {  # expect STATUS DESCRIPTION -- command...
  local want="$1" what="$2"
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, wanted $want"; sed 's/^/  /' "$tmp/err" | head -5; fi
}
contains() {
  if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(basename "$1")"; sed 's/^/  /' "$1" | head -5; fi
}
py=/usr/bin/python3
have_py=0
if [ -x "$py" ] && "$py" -c 'import h5py, numpy' 2>/dev/null; then have_py=1; else
  echo "note: $py with h5py and numpy is missing: the h5py and schema checks below are skipped"
fi

# ---- a recording, its report, and the schema document
run="$tmp/run.h5"
expect 0 "gemm --steps --record" -- "$exe" gemm --m 16 --n 24 --k 64 --mac fp8-tensorcore --steps 7 --record "$run" --flush-every 3 --quiet
contains "$tmp/out" "7 recorded to" "steps recorded"
[ ! -s "$tmp/err" ] && ok || bad "--quiet prints nothing on stderr"
expect 0 "report" -- "$exe" report "$run"
contains "$tmp/out" "A/activation" "report lists the A quantizer"
contains "$tmp/out" "swamped" "report has the GEMM table"
expect 0 "report --json" -- "$exe" report "$run" --json
if ((have_py)); then
  "$py" - "$tmp/out" <<'PY' && ok || bad "report --json contents"
import json, sys
d = json.load(open(sys.argv[1]))
p = {x["path"]: x for x in d["points"]}
assert d["schema_version"] == 2 and d["attributes"]["schema_version"] == "2" and d["attributes"]["kind"] == "gemm"
assert d["status"]["state"] == "complete" and not d["status"]["cut_short"] and d["status"]["last_step"] == 6
assert p["/quantizers/A/activation"]["steps"] == 7 and p["/gemms/C"]["steps"] == 7
assert p["/gemms/C"]["elements"] == 7 * 16 * 24
assert 0 < p["/gemms/C"]["swamped_fraction"] < 1   # fp8-tensorcore: multiterm, some products lost
PY
  "$py" "$here/check_schema.py" "$schema" "$run" record >"$tmp/schema.out" && ok || { bad "recording matches docs/hdf5-schema.md"; cat "$tmp/schema.out"; }
  # the checker itself fails when the document lacks a row
  grep -v '/gemms/{gemm}/mac_invalid' "$schema" >"$tmp/schema-missing.md"
  "$py" "$here/check_schema.py" "$tmp/schema-missing.md" "$run" record >"$tmp/schema.out" && bad "schema check catches an unlisted dataset" || ok
  contains "$tmp/schema.out" "mac_invalid is not in the schema" "unlisted dataset named"
  # values: statistics recomputed independently from a dump of the same run
  "$exe" gemm --m 16 --n 24 --k 64 --mac fp8-tensorcore --steps 2 --dump "$tmp/same.h5" --dump-select 'A,C' --dump-steps 0-1 -q >/dev/null 2>&1
  "$py" - "$run" "$tmp/same.h5" <<'PY' && ok || bad "recorded statistics == recomputed from the dumped tensors"
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1], "r"); d = h5py.File(sys.argv[2], "r")
q = r["/quantizers/A/activation"]; g = r["/gemms/C"]
assert list(q["step"][:]) == list(range(7)), q["step"][:]
assert r.attrs["schema_version"] == 2 and "[gemm]" in r.attrs["config"] and "steps = 7" in r.attrs["config"]
assert r["/status/state"][()] == 1 and r["/status/signal"][()] == 0 and r["/status/last_step"][()] == 6
assert r["/status/end_time"][()] > 1700000000
for s in (0, 1):
    x = d[f"/dumps/step_{s}/A/input"][:]; v = d[f"/dumps/step_{s}/A/values"][:]
    assert d[f"/dumps/step_{s}/A"].attrs["format"] == q.attrs["format"] == "e4m3fn"
    e = v - x
    assert q["count"][s] == x.size
    assert q["underflow"][s] == np.sum((x != 0) & (v == 0))
    assert np.isclose(q["sqnr_db"][s], 10 * np.log10(np.sum(x * x) / np.sum(e * e)), rtol=1e-9)
    assert np.isclose(q["error_mean"][s], e.mean(), rtol=1e-9, atol=1e-15)
    assert q["amax"][s] == np.abs(x).max()
    first = q.attrs["histogram_first_log2"]; nb = q.attrs["histogram_binades"] + 2
    ax = np.abs(x[x != 0]); b = np.floor(np.log2(ax)).astype(int) - first + 1
    h = np.bincount(np.clip(b, 0, nb - 1), minlength=nb)
    assert (h == q["histogram"][s]).all(), (h, q["histogram"][s])
    c = d[f"/dumps/step_{s}/C/input"][:]; cv = d[f"/dumps/step_{s}/C/values"][:]
    assert np.isclose(g["sqnr_db"][s], 10 * np.log10(np.sum(c * c) / np.sum((cv - c) ** 2)), rtol=1e-6)
    assert g["products"][s] == 16 * 24 * 64
    assert np.isclose(g["swamped_fraction"][s], g["mac_swamped"][s] / g["products"][s])
    assert np.isclose(r["/gradients/C/norm"][s], np.linalg.norm(c), rtol=1e-12)
PY
fi
if command -v h5dump >/dev/null; then
  h5dump -d /gemms/C/step "$run" >"$tmp/dump.txt" 2>&1 && ok || bad "h5dump reads the recording"
  contains "$tmp/dump.txt" "( 7 ) / ( H5S_UNLIMITED )" "h5dump sees 7 extendible rows"
else
  echo "note: h5dump missing: h5dump checks skipped"
fi

# ---- append, overwrite, refusal, sampling
expect 2 "existing file refused" -- "$exe" gemm --m 4 --n 4 --k 4 --steps 2 --record "$run" -q
contains "$tmp/err" "--overwrite" "refusal names the options"
[ "$(wc -l <"$tmp/err")" = 1 ] && ok || bad "one line on stderr"
expect 0 "append" -- "$exe" gemm --m 16 --n 24 --k 64 --mac fp8-tensorcore --steps 3 --record "$run" --append -q
expect 0 "report after append" -- "$exe" report "$run" --json
if ((have_py)); then
  "$py" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); s=list(f["/gemms/C/step"][:]); assert s==list(range(10)), s; assert f.attrs["appended_runs"]==1' "$run" && ok || bad "append continues the steps"
fi
expect 2 "append to a different layout" -- "$exe" gemm --m 4 --n 4 --k 4 --mac "ab=e5m2,acc=fp16" --steps 1 --record "$run" --append -q
contains "$tmp/err" "cannot append" "layout mismatch explained"
expect 2 "overwrite and append exclude" -- "$exe" gemm --steps 1 --record "$run" --append --overwrite
expect 0 "overwrite with sampling" -- "$exe" gemm --m 8 --n 8 --k 8 --steps 10 --sample-every 4 --record "$run" --overwrite -q
if ((have_py)); then
  "$py" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); s=list(f["/quantizers/B/weight/step"][:]); assert s==[0,4,8], s' "$run" && ok || bad "--sample-every 4 records steps 0,4,8"
fi

# ---- bad outputs: one clear line, no file left behind
expect 2 "missing directory" -- "$exe" gemm --steps 1 --record "$tmp/no/such/dir/r.h5"
contains "$tmp/err" "does not exist" "missing directory named"
mkdir "$tmp/ro" && chmod a-w "$tmp/ro"
if [ "$(id -u)" != 0 ]; then
  expect 2 "read-only directory" -- "$exe" gemm --steps 1 --record "$tmp/ro/r.h5"
  contains "$tmp/err" "not writable" "read-only directory explained"
fi
if [ -w /dev/full ]; then
  # (libhdf5 1.10 leaks 264 bytes on a failed H5Fcreate: not ours, so LeakSanitizer is told)
  expect 2 "full disk" -- env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$exe" gemm --m 8 --n 8 --k 8 --steps 2 --record /dev/full --overwrite -q
  [ "$(wc -l <"$tmp/err")" = 1 ] && ok || bad "full disk: one line"
fi
expect 2 "bad --dist leaves no file" -- "$exe" gemm --steps 2 --dist cauchy --record "$tmp/never.h5"
[ ! -e "$tmp/never.h5" ] && ok || bad "no file after bad input"
expect 2 "bad --dump-steps" -- "$exe" gemm --steps 2 --dump "$tmp/never.h5" --dump-steps 5-2
contains "$tmp/err" "FIRST-LAST" "dump steps syntax shown"
expect 2 "bad --flush-every" -- "$exe" gemm --steps 2 --record "$tmp/never.h5" --flush-every 0
expect 2 "report of a missing file" -- "$exe" report "$tmp/none.h5"
contains "$tmp/err" "no such file" "missing report file named"
printf 'not hdf5' >"$tmp/text.h5"
expect 2 "report of a non-HDF5 file" -- "$exe" report "$tmp/text.h5"
contains "$tmp/err" "not an HDF5 file" "non-HDF5 named"

# ---- SIGKILL: every flushed step survives, the file opens (h5py swmr, report, h5dump after h5clear)
kills=${FP8SIM_KILLS:-3}
for i in $(seq 1 "$kills"); do
  k="$tmp/kill$i.h5"
  "$exe" gemm --m 16 --n 16 --k 32 --mac fp8-tensorcore --steps 100000 --record "$k" --flush-every 2 >/dev/null 2>"$tmp/progress" &
  pid=$!
  for _ in $(seq 1 100); do  # wait until something was flushed, then a random moment
    [ -s "$k" ] && grep -q "flushed" "$tmp/progress" 2>/dev/null && break
    sleep 0.1
  done
  sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  expect 0 "report reads a killed recording ($i)" -- "$exe" report "$k" --json
  if ((have_py)); then
    "$py" - "$k" "$tmp/out" <<'PY' && ok || bad "killed recording $i: steps 0..n-1 complete, data sane, status killed"
import json, sys, h5py, numpy as np
rep = json.load(open(sys.argv[2]))
assert rep["status"]["state"] == "killed" and rep["status"]["cut_short"] and rep["status"]["writer_open"], rep["status"]
with h5py.File(sys.argv[1], "r", swmr=True) as f:
    assert f["/status/state"][()] == 0            # never closed
    s = f["/gemms/C/step"][:]
    done = s[s >= 0]
    assert len(done) >= 2, f"only {len(done)} steps survived"
    assert (done == np.arange(len(done))).all()
    assert rep["status"]["last_step"] >= len(done) - 1
    for g in ("/quantizers/A/activation", "/quantizers/B/weight", "/gemms/C"):
        c = f[g + "/count"][: len(done)]
        assert (c > 0).all() and (f[g + "/histogram"][: len(done)].sum(axis=1) <= c).all()
PY
  fi
  expect 0 "report text of a killed recording ($i)" -- "$exe" report "$k"
  contains "$tmp/out" "cut short: killed (the file was never closed" "killed run reported ($i)"
  cp "$k" "$k.cleared"
  if command -v h5clear >/dev/null && h5clear -s "$k.cleared" && h5dump -H "$k.cleared" >/dev/null 2>&1; then ok; else bad "h5dump opens the killed file after h5clear -s"; fi
done
# SIGTERM: the run stops at a step boundary and closes the file cleanly (plain h5dump opens it)
"$exe" gemm --m 16 --n 16 --k 32 --steps 100000 --record "$tmp/term.h5" >/dev/null 2>"$tmp/progress" &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
[ $? = 143 ] && ok || bad "SIGTERM: exit 143 (128 + SIGTERM) after closing"
h5dump -H "$tmp/term.h5" >/dev/null 2>&1 && ok || bad "SIGTERM: file closed cleanly"
contains "$tmp/progress" "stopped by SIGTERM" "SIGTERM reported"
expect 0 "report of a run stopped by SIGTERM" -- "$exe" report "$tmp/term.h5"
contains "$tmp/out" "cut short: stopped by SIGTERM after step" "SIGTERM in the report"
if ((have_py)); then
  "$py" - "$tmp/term.h5" <<'PY' && ok || bad "SIGTERM: /status says stopped by 15 after the last step"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:               # closed cleanly: no swmr needed
    st = {k: int(f["/status/" + k][()]) for k in ("state", "signal", "last_step")}
    s = f["/gemms/C/step"][:]
    assert st["state"] == 2 and st["signal"] == 15, st
    assert st["last_step"] == s[-1] and len(s) == s[-1] + 1, (st, s[-3:])
    assert all(len(f["/gemms/C/" + c]) == len(s) for c in f["/gemms/C"])
PY
  "$py" "$here/check_schema.py" "$schema" "$tmp/term.h5" record >"$tmp/schema.out" && ok || { bad "stopped recording matches the schema"; cat "$tmp/schema.out"; }
fi
"$exe" gemm --m 16 --n 16 --k 32 --steps 100000 --record "$tmp/int.h5" -q >/dev/null &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
[ $? = 130 ] && ok || bad "SIGINT: exit 130"
expect 0 "report of a run stopped by SIGINT" -- "$exe" report "$tmp/int.h5" --json
if ((have_py)); then
  "$py" -c 'import json,sys; s=json.load(open(sys.argv[1]))["status"]; assert s["state"]=="stopped" and s["signal_name"]=="SIGINT" and s["last_step"]>=0, s' "$tmp/out" && ok || bad "SIGINT in the JSON report"
fi

# ---- report is a validator: forged recordings are refused with the object and the problem
if ((have_py)); then
  "$exe" gemm --m 4 --n 4 --k 4 --steps 20 --record "$tmp/v.h5" -q >/dev/null 2>&1
  forge() {  # forge NAME PYTHON (f: the file opened r+)
    cp "$tmp/v.h5" "$tmp/$1.h5"
    "$py" -c "import h5py, numpy as np
f = h5py.File('$tmp/$1.h5', 'r+')
$2
f.close()"
  }
  refused() {  # refused NAME FRAGMENT
    expect 2 "report refuses $1" -- "$exe" report "$tmp/$1.h5"
    contains "$tmp/err" "$2" "report names what is wrong in $1"
    [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "^fp8sim: error: '$tmp/$1.h5'" "$tmp/err" && ok || bad "$1: one line naming the file"
  }
  forge v999 'f.attrs["schema_version"] = 999'
  refused v999 "/@schema_version is 999, a version this fp8sim does not read (it reads 1 and 2)"
  forge vone 'f.attrs["schema_version"] = "one"'
  refused vone "/@schema_version is a string ('one'), not an integer"
  forge nocount 'del f["/quantizers/A/activation/count"]'
  refused nocount "/quantizers/A/activation/count is missing"
  forge strcount 'del f["/gemms/C/count"]; f["/gemms/C/count"] = np.array([b"x"] * 20)'
  refused strcount "/gemms/C/count is a string, the schema says uint64"
  forge cut10 'f["/gemms/C/sqnr_db"].resize((10,))'
  refused cut10 "/gemms/C/sqnr_db has 10 rows, /gemms/C/step has 20"
  forge negative 'c = f["/gradients/C/nonfinite"][:].astype("<i8"); c[3] = -7; del f["/gradients/C/nonfinite"]; f["/gradients/C/nonfinite"] = c'
  refused negative "/gradients/C/nonfinite holds a negative count (-7 in row 3)"
  forge wrapped 'f["/quantizers/B/weight/overflow"][5] = np.uint64(2**64 - 1)'
  refused wrapped "/quantizers/B/weight/overflow holds an impossible count 18446744073709551615 in row 5"
  forge nobins 'del f["/gemms/C"].attrs["histogram_binades"]'
  refused nobins "/gemms/C@histogram_binades is missing"
  forge nostatus 'del f["/status"]'
  refused nostatus "/status is missing"
  expect 0 "the unforged file passes" -- "$exe" report "$tmp/v.h5"
  # a version 1 recording (no /status): read, and upgraded by --append
  forge v1 'del f["/status"]; f.attrs["schema_version"] = 1'
  expect 0 "report reads schema_version 1" -- "$exe" report "$tmp/v1.h5"
  contains "$tmp/out" "closed (schema_version 1" "version 1 status explained"
  expect 0 "append to schema_version 1" -- "$exe" gemm --m 4 --n 4 --k 4 --steps 2 --record "$tmp/v1.h5" --append -q
  "$py" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); assert f.attrs["schema_version"]==2 and f["/status/state"][()]==1 and list(f["/gemms/C/step"][:])==list(range(22))' "$tmp/v1.h5" && ok || bad "append upgrades a version 1 file to 2"
  "$py" "$here/check_schema.py" "$schema" "$tmp/v1.h5" record >"$tmp/schema.out" && ok || { bad "upgraded file matches the schema"; cat "$tmp/schema.out"; }
fi

# ---- a training recording (/@kind train): built with h5py from the columns of
# analysis/train_series.hpp (which must match the schema's rows), summarized by report
if ((have_py)); then
  tr="$tmp/train.h5"
  "$exe" gemm --m 4 --n 4 --k 4 --steps 6 --record "$tr" -q >/dev/null 2>&1
  "$py" - "$tr" "$here/../../analysis/train_series.hpp" "$schema" <<'PY' && ok || bad "a training recording from train_series.hpp, matching the schema"
import re, sys, h5py, numpy as np
path, header, schema = sys.argv[1:4]
doc = {}
for line in open(schema, encoding="utf-8"):
    if line.startswith("| `/train/"):
        c = [x.strip() for x in line.strip().strip("|").split(" | ")]
        doc[c[0].strip("`")] = c
text = open(header).read()
dt = {"i64": "int64", "u64": "uint64", "f64": "float64"}
cols = {}
for table, fn in {"steps": "step", "epochs": "epoch", "test": "test", "updates/{param}": "update"}.items():
    body = re.search(r"train_" + fn + r"_columns\(\) \{(.*?)\n\}", text, re.S).group(1)
    cols[table] = re.findall(r'(i64|u64|f64)\(\s*"(\w+)",\s*"([^"]*)"', body)
    for t, name, unit in cols[table]:
        row = doc.get(f"/train/{table}/{name}")
        assert row and row[2] == dt[t] and row[4] == unit, (table, name, t, unit, row)
    listed = {p.rsplit("/", 1)[1] for p in doc if "@" not in p and p.startswith(f"/train/{table}/")
              and p.count("/") == table.count("/") + 3}
    assert listed == {n for _, n, _ in cols[table]} | {"step"}, (table, listed)
with h5py.File(path, "r+") as f:
    f.attrs["kind"] = "train"
    g = f.create_group("train")
    g.attrs.update(workload="fashion-mnist-mlp", recipe="e4m3", recipe_text="[recipe]\n",
                   classes=np.int64(10))
    def table(name, key, steps, **values):
        t = g.create_group(name)
        t["step"] = np.array(steps, "<i8")
        for typ, c, unit in cols[key]:
            t[c] = np.asarray(values.get(c, np.zeros(len(steps))), dtype=dt[typ])
            t[c].attrs["unit"] = unit
    table("steps", "steps", range(6), loss=np.linspace(2, 1.5, 6), skipped=[0, 0, 1, 0, 0, 0])
    table("epochs", "epochs", [2, 5], epoch=[0, 1], val_accuracy=[np.nan, 0.8])
    table("test", "test", [5], test_loss=[1.25], test_accuracy=[0.75])
    table("updates/fc1.weight", "updates/{param}", range(6), count=[100] * 6, nonzero=[50] * 6,
          vanished=[5] * 6, vanished_fraction=[0.1] * 6)
PY
  "$py" "$here/check_schema.py" "$schema" "$tr" train >"$tmp/schema.out" && ok || { bad "training recording matches docs/hdf5-schema.md"; cat "$tmp/schema.out"; }
  expect 0 "report of a training recording" -- "$exe" report "$tr"
  contains "$tmp/out" "training (/train)" "report has the training summary"
  contains "$tmp/out" "6 (steps 0 to 5), 1 skipped" "steps and skipped steps reported"
  contains "$tmp/out" "accuracy 75.00%, loss 1.25 (at step 5)" "test accuracy reported"
  contains "$tmp/out" "fc1.weight" "vanished updates listed"
  expect 0 "report --json of a training recording" -- "$exe" report "$tr" --json
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert (d["steps"],d["skipped_steps"],d["final_loss"],d["val_accuracy"],d["test_accuracy"],d["test_loss"])==(6,1,1.5,0.8,0.75,1.25), d; assert d["train"]["updates"][0]["vanished_fraction"]==0.1 and d["train"]["top_underflow"]' "$tmp/out" && ok || bad "training JSON keys"
  "$py" -c 'import h5py,sys,numpy as np; f=h5py.File(sys.argv[1],"r+"); del f["/train/steps/loss"]; f["/train/steps/loss"]=np.arange(6)' "$tr"
  expect 2 "report refuses an integer loss" -- "$exe" report "$tr"
  contains "$tmp/err" "/train/steps/loss is an int64, the schema says float64" "mistyped train column named"
fi

# ---- dumps and tensor inputs
expect 0 "gemm --dump" -- "$exe" gemm --m 4 --n 5 --k 6 --mac "ab=e5m2,acc=fp16" --steps 3 --dump "$tmp/d.h5" --dump-select 'B,C*' --dump-steps 1-2 -q
expect 0 "dump --list" -- "$exe" dump --list "$tmp/d.h5"
contains "$tmp/out" "/dumps/step_1/B" "B at step 1 dumped"
contains "$tmp/out" "/dumps/step_2/C" "C at step 2 dumped"
grep -q "step_0\|/A " "$tmp/out" && bad "only selected tensors and steps" || ok
expect 0 "quantize a dumped tensor" -- "$exe" quantize --format e5m2 --input "$tmp/d.h5:/dumps/step_1/B/values" --json
if ((have_py)); then
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["rows"])==30 and all(r["error"]==0 for r in d["rows"])' "$tmp/out" && ok || bad "dumped values re-quantize exactly"
  "$py" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); g=f["/dumps/step_1/B"]; assert g["codes"].dtype=="uint8" and g["codes"].shape==(6,5) and g.attrs["format"]=="e5m2" and g.attrs["rounding"]=="rne"' "$tmp/d.h5" && ok || bad "dump dtypes and attributes"
  "$py" "$here/check_schema.py" "$schema" "$tmp/d.h5" dump >"$tmp/schema.out" && ok || { bad "dump file matches docs/hdf5-schema.md"; cat "$tmp/schema.out"; }
  "$py" -c "import numpy as np; np.save('$tmp/x.npy', np.array([[1e-9, 0.3], [500.0, -2.0]], dtype=np.float32))"
  expect 0 "dump from .npy" -- "$exe" dump --input "$tmp/x.npy" --format e4m3fn --output "$tmp/x.h5"
  "$py" -c 'import h5py,sys; g=h5py.File(sys.argv[1],"r")["/dumps/step_0/x"]; assert list(g["codes"][:].ravel())==[0,0x2a,0x7f,0xc0], g["codes"][:]' "$tmp/x.h5" && ok || bad "codes of the .npy dump"
  expect 0 "quantize --input .npy --stats" -- "$exe" quantize --format e4m3fn --input "$tmp/x.npy" --no-rows --stats
  contains "$tmp/out" "underflow to zero 1" "underflow counted from .npy"
  contains "$tmp/out" "log2|x| histogram" "histogram printed"
  expect 0 "quantize --dump" -- "$exe" quantize --format e4m3fn --input "$tmp/x.npy" --no-rows --dump "$tmp/q.h5"
  "$py" -c 'import h5py,sys; g=h5py.File(sys.argv[1],"r")["/dumps/step_0/x"]; assert g["values"].shape==(2,2) and g["values"][0,1]==0.3125' "$tmp/q.h5" && ok || bad "quantize --dump keeps the shape"
fi
expect 2 "dump refuses an existing file" -- "$exe" dump --input "$tmp/d.h5:/dumps/step_1/B/input" --format e4m3fn --output "$tmp/d.h5"
expect 2 "dump of a missing dataset" -- "$exe" dump --input "$tmp/d.h5:/nope" --format e4m3fn --output "$tmp/y.h5"
contains "$tmp/err" "/nope" "missing dataset named"
[ ! -e "$tmp/y.h5" ] && ok || bad "no file after a bad input"
expect 0 "dump help" -- "$exe" dump --help
contains "$tmp/out" "/dumps/step_" "dump help shows the layout"
expect 0 "report help" -- "$exe" report --help
for col in point format steps "underfl%" "flushed%" "subnorm%" "overfl%" "satur%" "SQNR avg" "SQNR min" rel.err amax "nonfin%" "inexact%" swamped "norm (last)" "<minsub%" "<minsub scal%" ">max%" "fp8sim report run.h5 --json"; do
  contains "$tmp/out" "  $col" "report --help explains '$col'"
done
expect 2 "report refuses a dump" -- "$exe" report "$tmp/d.h5"
contains "$tmp/err" "is a tensor dump, not a recording: use fp8sim dump --list" "dump refused by report"
expect 2 "dump --list refuses a recording" -- "$exe" dump --list "$run"
contains "$tmp/err" "is a recording, not a tensor dump" "recording refused by dump --list"
printf 'trunc' >"$tmp/t.h5" && head -c 5000 "$run" >"$tmp/t.h5"
expect 2 "report of a truncated file" -- "$exe" report "$tmp/t.h5"
contains "$tmp/err" "is truncated or damaged (5000 bytes)" "truncation in the user's words"
grep -q "eof\|sblock\|addr" "$tmp/err" && bad "no HDF5 internals in the message" || ok

# ---- a failed create leaves nothing behind, so a retry does not say "exists"
(trap '' XFSZ; ulimit -f 8; "$exe" gemm --m 4 --n 4 --k 4 --steps 3 --record "$tmp/full.h5" -q) >/dev/null 2>"$tmp/err"
[ $? = 2 ] && ok || bad "file size limit: exit 2"
contains "$tmp/err" "file too large" "file size limit in the user's words"
[ ! -e "$tmp/full.h5" ] && ok || bad "no partial file after a failed create"
expect 0 "the retry creates the file" -- "$exe" gemm --m 4 --n 4 --k 4 --steps 3 --record "$tmp/full.h5" -q
(trap '' XFSZ; ulimit -f 1; "$exe" dump --input "$tmp/d.h5:/dumps/step_1/B/input" --format e4m3fn --output "$tmp/fulld.h5") >/dev/null 2>"$tmp/err"
[ $? = 2 ] && [ ! -e "$tmp/fulld.h5" ] && ok || bad "dump: no partial file after a failed create"

echo "record: ${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
