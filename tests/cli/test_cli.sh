#!/usr/bin/env bash
# tests/cli/test_cli.sh — the fp8sim command line end to end: outputs, exit statuses and
# error messages. Needs $FP8SIM_EXE and $FP8SIM_CONFORMANCE_DIR (meson test sets both; the
# conformance folder is the copy unpacked from tests/data/conformance/*.tar.xz into
# <build>/tests/data/conformance, or the folder given by -Dconformance_dir=DIR).
set -uo pipefail
exe="${FP8SIM_EXE:?the fp8sim executable (meson test sets it)}"
conf="${FP8SIM_CONFORMANCE_DIR:?the conformance vector folder (meson test sets it)}"
if [ ! -d "$conf/testfloat" ]; then
  echo "FAIL: no conformance vectors in $conf/testfloat (meson test reads the vectors unpacked from tests/data/conformance/*.tar.xz into <build>/tests/data/conformance: build the tests, e.g. ninja -C <build>, to unpack them; to read another folder: meson configure <build> -Dconformance_dir=DIR)"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect STATUS DESCRIPTION -- command...   (stdout in $tmp/out, stderr in $tmp/err)
expect() {
  local want="$1" what="$2"
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, wanted $want"; sed 's/^/  /' "$tmp/err"; fi
}
contains() {  # contains FILE TEXT DESCRIPTION
  if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(basename "$1")"; sed 's/^/  /' "$1" | head -5; fi
}

# ---- formats
expect 0 "formats lists presets" -- "$exe" formats
contains "$tmp/out" "e4m3b11fnuz" "formats table"
expect 0 "formats --json one name" -- "$exe" formats e4m3fn --json
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["name"]=="e4m3fn" and d["max_finite"]==448 and d["min_normal"]==0.015625 and d["min_subnormal"]==0.001953125 and d["exp_bits"]==4 and d["man_bits"]==3 and d["bias"]==7' "$tmp/out" 2>/dev/null; then ok; else bad "formats --json fields"; fi
expect 0 "formats --table" -- "$exe" formats e2m1 --table
[ "$(grep -c ' normal\| subnormal\| zero' "$tmp/out")" -ge 16 ] && ok || bad "e2m1 table has 16 rows"
expect 0 "formats --table --json" -- "$exe" formats e5m2 --table --json
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d["encodings"]; assert len(e)==256 and e[0x7c]["class"]=="inf" and e[0x7b]["value"]==57344' "$tmp/out" 2>/dev/null; then ok; else bad "formats --table --json"; fi
expect 2 "unknown format" -- "$exe" formats e99m2
contains "$tmp/err" "exponent bits = 99" "unknown format message"
[ "$(wc -l <"$tmp/err")" = 1 ] && ok || bad "one line on stderr"
expect 2 "table too large" -- "$exe" formats fp32 --table
contains "$tmp/err" "at most 16 bits" "table too large message"

# ---- quantize
expect 0 "quantize csv" -- "$exe" quantize --format e4m3fn --csv 0.3 448 500
[ "$(head -1 "$tmp/out")" = "input,code,value,error,flags" ] && ok || bad "csv header"
contains "$tmp/out" "0.3,2a,0.3125," "csv row"
contains "$tmp/out" "500,7f,nan,nan,overflow|inexact" "csv overflow row"
contains "$tmp/err" "count 3" "counters on stderr"
expect 0 "quantize json" -- "$exe" quantize --format e5m2 --json 1 1e-9
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["rows"]; assert r[0]["code"]=="3c" and r[1]["flags"]=="underflow|inexact"' "$tmp/out" 2>/dev/null; then ok; else bad "quantize --json rows"; fi
expect 0 "quantize sr reproducible" -- "$exe" quantize -f e5m2 -r sr:8 --seed 5 --csv 0.1 0.1 0.1 0.1 0.1 0.1
cp "$tmp/out" "$tmp/sr1"
"$exe" quantize -f e5m2 -r sr --sr-bits 8 --seed 5 --csv 0.1 0.1 0.1 0.1 0.1 0.1 >"$tmp/sr2" 2>/dev/null
cmp -s "$tmp/sr1" "$tmp/sr2" && ok || bad "same seed, same output"
printf '1.5 # comment\n2.5, 3.5\n' >"$tmp/in.txt"
expect 0 "quantize --input file" -- "$exe" quantize -f e2m1 --input "$tmp/in.txt" --csv
[ "$(wc -l <"$tmp/out")" = 4 ] && ok || bad "three rows from the file"
expect 0 "quantize --input stdin" -- bash -c "printf '3f800000\n' | '$exe' quantize -f bf16 --input - --input-kind f32-bits --csv"
contains "$tmp/out" "3f800000,3f80,1,0,none" "f32-bits row"
expect 2 "quantize bad value" -- "$exe" quantize -f e5m2 abc
contains "$tmp/err" "'abc'" "bad value named"
expect 2 "quantize bad sr bits" -- "$exe" quantize -f e5m2 -r sr --sr-bits 0 1
contains "$tmp/err" "from 1 to 32" "sr range"
expect 2 "quantize missing file" -- "$exe" quantize -f e5m2 --input "$tmp/nope.txt"
contains "$tmp/err" "nope.txt" "missing file named"
expect 2 "quantize no format" -- "$exe" quantize 1
expect 2 "quantize bad rounding" -- "$exe" quantize -f e5m2 -r nearest 1
contains "$tmp/err" "rne, rna" "rounding choices listed"
expect 2 "quantize no input" -- "$exe" quantize -f e5m2

# ---- mac and gemm
expect 0 "mac json" -- "$exe" mac --mac fp32-fma --a "1 2 3" --b "0.5 0.25 1" --json
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["result"]==4 and d["result_bits"]=="40800000" and d["flags"]=="none"' "$tmp/out" 2>/dev/null; then ok; else bad "mac --json fields"; fi
expect 0 "mac trace" -- "$exe" mac --mac "ab=e4m3fn,acc=bf16,round=sr:8,struct=multiterm:4:13:2" --a "1 1 1 1 1" --b "0.01 0.01 0.01 0.01 100" --trace
contains "$tmp/out" "aligned to 2^" "multiterm alignment traced"
contains "$tmp/out" "random bits" "random bits traced"
contains "$tmp/out" "not representable in e4m3fn" "rounded operands noted"
expect 0 "mac overflow to inf" -- "$exe" mac --mac "ab=e5m2,acc=e5m2" --a "57344 57344" --b "2 2" --json
contains "$tmp/out" '"result": "inf"' "inf result as a string"
expect 2 "mac bad key" -- "$exe" mac --mac "ab=e5m2,accu=fp16" --a 1 --b 1
contains "$tmp/err" "unknown key 'accu'" "bad key named"
expect 2 "mac bad structure" -- "$exe" mac --mac "struct=tree" --a 1 --b 1
contains "$tmp/err" "multiterm" "structures listed"
expect 2 "mac length mismatch" -- "$exe" mac --a "1 2" --b "1"
expect 2 "mac unknown preset" -- "$exe" mac --mac volta --a 1 --b 1
contains "$tmp/err" "tensorcore-v100" "presets listed"
expect 0 "gemm json" -- "$exe" gemm --m 16 --n 40 --k 64 --mac "ab=e5m2,acc=fp16" --json --check-golden
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["kernel"] in ("emulated","emulated-fp32") and d["golden_mismatches"]==0 and d["golden_checked"]==640 and d["max_rel_error"] < 1' "$tmp/out" 2>/dev/null; then ok; else bad "gemm --json / --check-golden"; cat "$tmp/out"; fi
if /usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null; then
  /usr/bin/python3 -c "
import h5py, numpy as np
with h5py.File('$tmp/ab.h5', 'w') as f:
    f['a'] = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
    f['g/b'] = np.ones((4, 5))
np.save('$tmp/b.npy', np.ones((4, 5)))
"
  expect 0 "gemm from HDF5" -- "$exe" gemm --a-file "$tmp/ab.h5:/a" --b-file "$tmp/ab.h5:/g/b" --json
  if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["m"]==3 and d["n"]==5 and d["k"]==4 and d["max_rel_error"]==0' "$tmp/out" 2>/dev/null; then ok; else bad "gemm HDF5 shapes/values"; fi
  expect 0 "gemm from .npy" -- "$exe" gemm --a-file "$tmp/ab.h5:/a" --b-file "$tmp/b.npy" --json
  expect 2 "gemm missing dataset" -- "$exe" gemm --a-file "$tmp/ab.h5:/nope" --b-file "$tmp/b.npy"
  contains "$tmp/err" "/nope" "missing dataset named"
else
  echo "note: /usr/bin/python3 with h5py and numpy is missing: HDF5/.npy input tests skipped"
fi
expect 2 "gemm bad dist" -- "$exe" gemm --m 4 --n 4 --k 4 --dist cauchy
contains "$tmp/err" "lognormal" "distributions listed"

# ---- bench (tiny sizes: the commands run and report, not how fast)
expect 0 "bench record" -- env TMPDIR="$tmp" "$exe" bench record --sizes 32 --steps 2 --mac mellempudi2019
contains "$tmp/out" "sampled +%" "bench record table"
if ls "$tmp"/fp8sim-bench-record-*.h5 >/dev/null 2>&1; then bad "bench record left its file"; else ok; fi
expect 2 "bench record bad mac" -- "$exe" bench record --sizes 32 --steps 1 --mac volta
contains "$tmp/err" "unknown preset 'volta'" "bench record names the bad spec"
if [ -s "$tmp/out" ]; then bad "bench record printed a table before failing"; else ok; fi
expect 2 "bench gemm size 0" -- "$exe" bench gemm --sizes 0
contains "$tmp/err" "want an integer from 1 to 16384" "bench gemm names the allowed sizes"
expect 0 "bench gemm cpu-time" -- "$exe" bench gemm --sizes 64 --repeats 1 --cpu-time --threads 1
contains "$tmp/out" "e5m2 -> fp16 rne sequential" "bench gemm rows"
contains "$tmp/out" "kernels run at" "bench gemm names the CPU and the kernels' ISA level"
expect 0 "bench train tiny" -- "$exe" bench train --batch 4 --steps 1 --width 2 --recipes fp32 --with-stats
contains "$tmp/out" "fp32 +stats" "bench train times the statistics"
contains "$tmp/out" "lowering%" "bench train shows where the time goes"

# ---- vectors check
tv="$conf/testfloat/f16_mulAdd.rtz.tv"
expect 0 "vectors check passes" -- "$exe" vectors check --testfloat f16_mulAdd --rounding rtz "$tv"
tail -1 "$tmp/out" | grep -qE '^[0-9]+ passed, 0 failed$' && ok || bad "last line N passed, 0 failed"
head -5 "$tv" >"$tmp/broken.tv"
awk 'NR==2 {$4 = "0000"} {print}' "$tv" | head -5 >"$tmp/broken.tv"
expect 1 "vectors check finds a mismatch" -- "$exe" vectors check --testfloat f16_mulAdd --rounding rtz "$tmp/broken.tv"
contains "$tmp/out" "line 2" "mismatch line reported"
contains "$tmp/out" "1 failed" "failure counted"
expect 2 "vectors check missing file" -- "$exe" vectors check --testfloat f16_add "$tmp/none.tv"
expect 2 "vectors check bad op" -- "$exe" vectors check --testfloat f8_add "$tv"
contains "$tmp/err" "f16_add" "allowed ops listed"
printf 'zz 3C00 3C00 00\n' >"$tmp/garbage.tv"
expect 2 "vectors check malformed line" -- "$exe" vectors check --testfloat f16_add "$tmp/garbage.tv"
contains "$tmp/err" "line 1" "malformed line named"

# ---- vectors gen / check of fp8sim vector files (docs/vectors.md)
expect 0 "vectors gen mac-step" -- "$exe" vectors gen --mac mellempudi2019 --corners -n 200 -o "$tmp/v.txt" --memh "$tmp/v.memh" --json
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["classes"]; assert d["kind"]=="mac-step" and d["not_reached"]==[] and c["tie"]>0 and c["saturation"] is None and d["cases"]==d["corner_cases"]+200' "$tmp/out" 2>/dev/null; then ok; else bad "vectors gen --json report"; fi
[ "$(grep -vc '^#' "$tmp/v.txt")" = "$(grep -vc '^//' "$tmp/v.memh")" ] && ok || bad "memh has one word per case"
expect 0 "vectors check of gen's own file" -- "$exe" vectors check "$tmp/v.txt"
tail -1 "$tmp/out" | grep -qE '^[0-9]+ passed, 0 failed$' && ok || bad "vectors check last line"
# hardware that ties away from zero: every tie of the file rounded rna
"$exe" vectors gen --mac "ab=e5m2,acc=bf16,round=rne" -n 1000 -o "$tmp/bf.txt" -q >/dev/null 2>&1
"$exe" vectors gen --mac "ab=e5m2,acc=bf16,round=rna" -n 1000 -o "$tmp/rna.txt" -q >/dev/null 2>&1
awk 'NR==FNR { if ($0 !~ /^#/) r[++n]=$4" "$5; next } /^#/ {print; next} { split(r[++m], x, " "); $4=x[1]; $5=x[2]; print }' "$tmp/rna.txt" "$tmp/bf.txt" >"$tmp/hw.txt"
expect 1 "vectors check finds rna results" -- "$exe" vectors check --max-report 3 "$tmp/hw.txt"
contains "$tmp/out" "likely cause: round=rna" "vectors check names rna"
grep -A1 '^likely causes' "$tmp/out" | tail -1 | grep -q 'round=rna' && ok || bad "rna is the likeliest cause"
# a plain dump of results
grep -v '^#' "$tmp/hw.txt" | awk '{printf "%x %s %s\n", NR-1, $4, $5}' >"$tmp/dump.txt"
expect 1 "vectors check of a dump" -- "$exe" vectors check --vectors "$tmp/bf.txt" "$tmp/dump.txt"
contains "$tmp/out" "round=rna" "dump check names rna"
expect 2 "vectors check of a dump without --vectors" -- "$exe" vectors check "$tmp/dump.txt"

# ---- general
expect 0 "help" -- "$exe" --help
contains "$tmp/out" "quantize" "help lists commands"
expect 0 "quantize help" -- "$exe" quantize --help
contains "$tmp/out" "--sr-bits" "quantize help"
expect 2 "unknown command" -- "$exe" frobnicate
contains "$tmp/err" "unknown command 'frobnicate'" "unknown command message"
expect 2 "bad FP8SIM_ISA" -- env FP8SIM_ISA=v9 "$exe" formats
contains "$tmp/err" "FP8SIM_ISA='v9' is not an ISA level (allowed: v4, v3, v1)" "bad FP8SIM_ISA named"
# a lower ISA level computes the same bits (here: a GEMM with flags and a stochastic rounding)
"$exe" gemm --m 9 --n 40 --k 70 --mac "ab=e5m2,acc=bf16,round=sr:8" --seed 3 --json >"$tmp/isa_best.json" 2>/dev/null
for isa in v3 v1; do
  FP8SIM_ISA=$isa "$exe" gemm --m 9 --n 40 --k 70 --mac "ab=e5m2,acc=bf16,round=sr:8" --seed 3 --json >"$tmp/isa_$isa.json" 2>/dev/null
  if /usr/bin/python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); ks=[k for k in a if "error" in k or k.endswith("_steps") or k in ("swamped","nonfinite")]; assert ks and all(a[k]==b[k] for k in ks), ks' "$tmp/isa_best.json" "$tmp/isa_$isa.json" 2>/dev/null; then ok; else bad "gemm with FP8SIM_ISA=$isa differs"; fi
done

# ---- help that teaches (docs/cli-conventions.md): every command's --help has its own
# examples and shows option types as words; CLI11's own type names (INT, UINT, FLOAT, TEXT,
# "in [1 - 9]") would mean an option bypassed the shared adders of cli/options.hpp.
"$exe" --help >"$tmp/top_help"
for c in formats quantize mac gemm dump report vectors "vectors check" "vectors gen" bench "bench quantize" \
  "bench gemm" "bench record"; do
  # shellcheck disable=SC2086
  expect 0 "$c --help" -- "$exe" $c --help
  if grep -qE '(^| )(INT|UINT|FLOAT|TEXT|NUMBER)( |:|$)|\[[0-9.]+ - [0-9.]+\]' "$tmp/out"; then
    bad "$c --help shows CLI11 type names: $(grep -E '(INT|UINT|FLOAT|TEXT)' "$tmp/out" | head -2)"
  else ok; fi
  ex=$(sed -n '/^Examples:/,$p' "$tmp/out" | grep -E '^  fp8sim|^  FP8SIM' | head -1)
  if [ -z "$ex" ]; then bad "$c --help has no examples"; \
  elif ! grep -qF "fp8sim ${c%% *}" <<<"$(sed -n '/^Examples:/,$p' "$tmp/out")"; then bad "$c --help examples are not its own"; \
  else ok; fi
done
expect 0 "mac --help" -- "$exe" mac --help
contains "$tmp/out" "Assumed: chunk" "mac --help says which parts of a preset are assumptions"

echo "cli: ${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
