#!/bin/sh
# rtl/run_tb.sh TESTBENCH [PLUSARGS...] — runs one Verilator testbench (meson test cannot run
# a custom_target's output directly). The testbench prints "N passed, N failed" and exits
# non-zero on any failure.
exec "$@"
