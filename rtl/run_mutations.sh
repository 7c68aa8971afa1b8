#!/usr/bin/env bash
# rtl/run_mutations.sh TB_FP8_MAC TB_DOT4 [FP8SIM] — the mutation check of the example designs.
#
# Every design has deliberately broken variants, selected by its MUTATION parameter (all of
# them are instantiated in its testbench; +mutant=M picks the one checked). For each:
#  1. the testbench's own cases (corners, exhaustive pairs, random): the correct design
#     (M = 0) must pass, every mutant must fail;
#  2. with FP8SIM (the fp8sim executable): cases from `fp8sim vectors gen` (corners and
#     random), run through the testbench's vectors mode, its "INDEX RESULT FLAGS" dump checked
#     by `fp8sim vectors check`: the correct design must pass, every mutant must fail, and
#     where a hypothesis of the check is the mutation, the check must name it among the
#     likely causes.
# Prints a table; exits non-zero when any expectation fails. RTL_MUTATION_RANDOM sets the
# testbench's random cases per run (default 20000; the testbench alone runs 100000) and
# RTL_MUTATION_VECTORS the random cases of each vector file (default 5000).
set -uo pipefail
if (($# < 2)); then
  echo "usage: rtl/run_mutations.sh TB_FP8_MAC TB_DOT4 [FP8SIM]" >&2
  exit 2
fi
mac_tb=$1
dot_tb=$2
fp8sim=${3:-}
random=${RTL_MUTATION_RANDOM:-20000}
nvec=${RTL_MUTATION_VECTORS:-5000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# design | mutant | what | vectors: tb config (fp8_mac), spec, op | the cause the check should name
rows=(
  "fp8_mac|0|correct design|e5m2-fp32|ab=e5m2,acc=fp32,round=rne|mac-step|"
  "fp8_mac|0|correct design|e4m3fn-fp32|ab=e4m3fn,acc=fp32,round=rne|mac-step|"
  "fp8_mac|0|correct design|e5m2-fp16|ab=e5m2,acc=fp16,round=rne|mac-step|"
  "fp8_mac|1|ties away from zero|e5m2-fp32|ab=e5m2,acc=fp32,round=rne|mac-step|round=rna"
  "fp8_mac|2|sticky bit dropped|e5m2-fp32|ab=e5m2,acc=fp32,round=rne|mac-step|sticky-lost"
  "fp8_mac|3|subnormals flushed|e5m2-fp32|ab=e5m2,acc=fp32,round=rne|mac-step|ftz_in=1"
  "fp8_mac|4|overflow saturates|e5m2-fp16|ab=e5m2,acc=fp16,round=rne|mac-step|saturate"
  "dot4|0|correct design||v100-fp16-fp32|dot|"
  "dot4|1|alignment one bit short||v100-fp16-fp32|dot|align-1"
  "dot4|2|sticky dropped (truncation not inexact)||v100-fp16-fp32|dot|"
  "dot4|3|subnormal inputs flushed||v100-fp16-fp32|dot|ftz_in=1"
  "dot4|4|aligned to the leading bit||v100-fp16-fp32|dot|align=lead"
  "dot4|5|round to nearest, not toward zero||v100-fp16-fp32|dot|round=rne"
)

status=0
declare -A tb_done=()
table=()
have_vectors=0
if [ -n "$fp8sim" ] && "$fp8sim" vectors gen --help >/dev/null 2>&1; then have_vectors=1; fi

for row in "${rows[@]}"; do
  IFS='|' read -r design m what cfg spec op cause <<<"$row"
  tb=$mac_tb
  [ "$design" = dot4 ] && tb=$dot_tb
  # 1. the testbench's own cases (once per design and mutant)
  key="$design/$m"
  if [ -z "${tb_done[$key]:-}" ]; then
    log="$work/tb-$design-$m.log"
    "$tb" +mutant="$m" +random="$random" +quiet >"$log" 2>&1
    rc=$?
    counts=$(grep -E "^tb_[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1 | sed 's/^[^:]*: //')
    [ -z "$counts" ] && counts="no summary (exit $rc)"
    if ((m == 0)); then
      if ((rc == 0)); then verdict=ok; else verdict="WRONG (the correct design fails)"; status=1; fi
    else
      if ((rc == 1)); then verdict=ok; else verdict="WRONG (exit $rc: the mutant is not caught)"; status=1; fi
    fi
    table+=("$(printf '%-8s %-2s %-38s testbench: %-32s %s' "$design" "$m" "$what" "$counts" "$verdict")")
    if [ "$verdict" != ok ]; then tail -20 "$log"; fi
    tb_done[$key]=1
  fi
  ((have_vectors)) || continue

  # 2. fp8sim's vectors, the dump checked by fp8sim
  vec="$work/$design-$cfg.vec"
  if [ ! -f "$vec" ]; then
    if ! "$fp8sim" vectors gen --mac "$spec" --op "$op" --corners --count "$nvec" --out "$vec" \
        --quiet >"$work/gen.log" 2>&1; then
      cat "$work/gen.log"
      table+=("$(printf '%-8s %-2s %-38s vectors gen failed for %s' "$design" "$m" "$what" "$spec")")
      status=1
      continue
    fi
  fi
  dump="$work/$design-$m-$cfg.dump"
  plus=(+mutant="$m" +vectors="$vec" +results="$dump" +quiet)
  [ -n "$cfg" ] && plus+=(+config="$cfg")
  "$tb" "${plus[@]}" >"$work/vtb.log" 2>&1
  check="$work/check-$design-$m-$cfg.log"
  "$fp8sim" vectors check --vectors "$vec" --max-report 1 "$dump" >"$check" 2>&1
  rc=$?
  counts=$(tail -1 "$check")
  # "likely causes (...), likeliest first:" then one "  ID  reproduces X of Y, ...: what" a line
  causes_block=$(sed -n '/^likely causes (/,$p' "$check" | sed -n '2,$p' | grep -E '^  [^ ]')
  top=$(head -1 <<<"$causes_block" | awk '{print $1 " (" $2 " " $3 " " $4 " " $5 ")"}' | tr -d ',')
  named=$(awk '{print $1}' <<<"$causes_block" | tr '\n' ' ')
  if ((m == 0)); then
    if ((rc == 0)); then verdict=ok; else verdict="WRONG (the correct design fails)"; status=1; fi
    causes="-"
  elif ((rc != 1)); then
    verdict="WRONG (exit $rc: not caught)"
    status=1
    causes="-"
  elif [ -z "$cause" ]; then
    verdict=ok
    causes="top: ${top:-none} (no single hypothesis is this mutation)"
  elif [[ " $named " == *" $cause "* ]]; then
    verdict=ok
    causes="top: ${top:-none}; names $cause"
  else
    verdict="WRONG (the check does not name $cause)"
    status=1
    causes="named: ${named:-none}"
  fi
  table+=("$(printf '%-8s %-2s %-38s vectors %-11s %-28s %s  %s' "$design" "$m" "$what" "${cfg:-dot}" "$counts" "$causes" "$verdict")")
  if [ "$verdict" != ok ]; then tail -30 "$check"; fi
done

echo "mutation check (testbench: $random random cases a run; vectors: corners + $nvec random)"
printf '%s\n' "${table[@]}"
((have_vectors)) || echo "(no 'fp8sim vectors gen': the vector rounds were skipped)"
if ((status == 0)); then echo "mutation check: OK"; else echo "mutation check: FAILED"; fi
exit $status
