#!/usr/bin/python3
"""tests/cli/test_sweep.py — `fp8sim sweep` and `fp8sim merge` end to end ($FP8SIM_EXE):

  - experiment files with a bad key, value, type, table or zip are refused (exit 2) with the
    file, line and column and what is allowed; --dry-run lists the points;
  - a grid x zip x points experiment runs into one file: one group per point holding its
    whole record (/gemms/C, /quantizers/A, ...), a summary that pandas reads in one line,
    with the settings of each point;
  - 1 and 2 threads give the same file, point for point (timings excluded);
  - SIGKILLed while points are being written, then run again with --resume, the sweep ends
    with every point exactly once and the same results as an uninterrupted run;
  - shards (--shard i/N) joined by fp8sim merge equal the single run;
  - under mpirun (-np 2 and 3, when the build has MPI) the same file; a refusal ends every
    rank; the whole job SIGKILLed and resumed under MPI ends with the same file;
  - train points on the bundled Fashion-MNIST subset, a bad recipe field refused up front;
    a train point SIGKILLed after its first checkpoint resumes from it to the same results;
  - a failing point records its error, the others complete, the exit status is 64 + 1;
  - an existing results file is not replaced without --overwrite; --resume of a finished
    sweep does nothing; --resume refuses parts left by another experiment.
The kill waits for a few point files by polling (no fixed sleeps)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

EXE = os.environ["FP8SIM_EXE"]
TIMING = {"seconds", "gmacs"}
RUN_ATTRS = {"start_time", "host", "command_line", "config"}

GEMM = """# a small sweep of gemm points
[base]
kind = "gemm"
m = 24
n = 20
k = 300
mac = "ab=e5m2,acc=fp32,round=rne"

[grid]
"mac.acc" = ["fp32", "fp16", "bf16"]
"mac.round" = ["rne", "sr"]

[zip]
seed = [1, 2]
dist = ["normal", "lognormal:2"]

[[points]]
k = 300

[[points]]
k = 64
"mac.struct" = "chunked:16:fp32:rne"
"""

QUANT = """[base]
kind = "quantize"
count = 5000
[grid]
format = ["e5m2", "e4m3fn", "fp16"]
rounding = ["rne", "sr:8"]
"""

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def run(args, **kw):
    return subprocess.run([EXE] + args, capture_output=True, text=True, **kw)


def datasets(f, root):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    f[root].visititems(visit)
    return out


def attrs(obj):
    return {k: obj.attrs[k] for k in obj.attrs
            if k not in RUN_ATTRS and k not in ("metric:seconds", "metric:gmacs")}


def same_results(a, b, what):
    """The two sweep files hold the same points with the same records (timings aside)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        sa, sb = fa["summary"][:], fb["summary"][:]
        check(sa.dtype.names == sb.dtype.names, f"{what}: summary columns differ")
        check(len(sa) == len(sb), f"{what}: {len(sa)} vs {len(sb)} summary rows")
        for col in sa.dtype.names:
            if col in TIMING:
                continue
            x, y = sa[col], sb[col]
            same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
            check(same, f"{what}: summary column {col} differs")
        check(sorted(fa["points"]) == sorted(fb["points"]), f"{what}: point groups differ")
        for p in fa["points"]:
            da, db = datasets(fa, "points/" + p), datasets(fb, "points/" + p)
            check(sorted(da) == sorted(db), f"{what}: {p} holds other datasets")
            for k in da:
                if k.endswith("seconds") or k.endswith("_time"):  # when it ran
                    continue
                x, y = da[k], db[k]
                eq = np.array_equal(x, y, equal_nan=True) if getattr(x, "dtype", None) is not None and x.dtype.kind == "f" else np.array_equal(x, y)
                check(eq, f"{what}: {p}/{k} differs")
            xa, xb = attrs(fa["points/" + p]), attrs(fb["points/" + p])
            check(xa.keys() == xb.keys(), f"{what}: {p} has other attributes")
            for k in xa.keys() & xb.keys():
                x, y = xa[k], xb[k]
                same = (x == y) or (isinstance(x, float) and np.isnan(x) and np.isnan(y))
                check(bool(np.all(same)), f"{what}: {p} attribute {k}: {x!r} vs {y!r}")


def refused(args, *needles, cwd=None):
    r = run(args, cwd=cwd)
    check(r.returncode == 2, f"{args}: exit {r.returncode}, expected 2 ({r.stderr.strip()})")
    for n in needles:
        check(n in r.stderr, f"{args}: {n!r} not in {r.stderr.strip()!r}")
    check("internal error" not in r.stderr, f"{args}: internal error")


def main():
    tmp = tempfile.mkdtemp(prefix="fp8sim-sweep-")
    exp = os.path.join(tmp, "exp.toml")
    with open(exp, "w") as f:
        f.write(GEMM)

    # --- validation: file, line and column, and what is allowed
    bad = os.path.join(tmp, "bad.toml")
    cases = [
        ('[base]\nkind = "gemm"\nmm = 3\n', ["bad.toml:3:", "unknown key 'mm'", "allowed:"]),
        ('[base]\nkind = "gemm"\nm = "big"\n', ["bad.toml:3:", "m: must be an integer"]),
        ('[base]\nkind = "gemm"\nm = 0\n', ["bad.toml:3:", "an integer from 1 to"]),
        ('[base]\nkind = "gemm"\n[grid]\n"mac.acc" = ["fp16", "fp99"]\n', ["bad.toml:4:", "fp99"]),
        ('[base]\nkind = "gemm"\n[grid]\n"mac.accc" = ["fp16"]\n', ["bad.toml:4:", "unknown MAC spec key 'accc'"]),
        ('[base]\nkind = "gemm"\n[zip]\nm = [1, 2]\nn = [3]\n', ["[zip]", "lock step"]),
        ('[base]\nkind = "nn"\n', ["bad.toml:2:", "unknown kind 'nn'"]),
        ('[base]\nkind = "quantize"\n[grid]\nformat = ["e5m2", "fp99"]\n', ["bad.toml:4:", "fp99"]),
        ('[bse]\nkind = "gemm"\n', ["bad.toml:1:", "unknown table 'bse'"]),
        ('[base]\nkind = "gemm"\nm = [1, 2]\n', ["bad.toml:3:", "go in [grid] or [zip]"]),
        ('[base\nkind = "gemm"\n', ["bad.toml:1:"]),
    ]
    for text, needles in cases:
        with open(bad, "w") as f:
            f.write(text)
        refused(["sweep", bad, "--dry-run"], *needles)
    refused(["sweep", os.path.join(tmp, "missing.toml")], "missing.toml")
    refused(["sweep", exp, "--shard", "2/2"], "--shard '2/2'")

    # --- dry run: points listed, nothing written
    r = run(["sweep", exp, "--dry-run"], cwd=tmp)
    check(r.returncode == 0, f"dry run: exit {r.returncode}: {r.stderr}")
    check("24 gemm points" in r.stdout, f"dry run: {r.stdout[:200]!r}")
    check(r.stdout.count("\n  p0000") == 24, "dry run lists 24 points")
    check(not os.path.exists(os.path.join(tmp, "exp.h5")), "dry run wrote a file")

    # --- a whole run, 1 thread and 2 threads
    one, two = os.path.join(tmp, "one.h5"), os.path.join(tmp, "two.h5")
    r = run(["sweep", exp, "--out", one, "--threads", "1", "-q"])
    check(r.returncode == 0, f"sweep: exit {r.returncode}: {r.stderr}")
    r = run(["sweep", exp, "--out", two, "--threads", "2", "-q"])
    check(r.returncode == 0, f"sweep --threads 2: exit {r.returncode}: {r.stderr}")
    check(not os.path.exists(one + ".parts"), "parts left after a complete sweep")
    with h5py.File(one, "r") as f:
        check(len(f["points"]) == 24, f"{len(f['points'])} point groups")
        check("gemms/C/max_rel_error" in f["points/p000000"] or "gemms/C" in f["points/p000000"], "point 0 has no /gemms/C")
        check("quantizers/A/activation" in f["points/p000000"], "point 0 has no /quantizers/A")
        s = f["summary"][:]
        check(len(s) == 24 and list(s["point"]) == list(range(24)), "summary rows")
        check(all(x == b"ok" for x in s["status"]), "every point ok")
        check(set(s["mac.acc"]) == {b"fp32", b"fp16", b"bf16"}, f"mac.acc column {set(s['mac.acc'])}")
        check(list(s["k"][:12]) == [300] * 12 and list(s["k"][12:]) == [64] * 12, "k per point")
        check(set(s["mac.struct"][12:]) == {b"chunked:16:fp32:rne"}, "explicit points' struct")
        # narrow accumulators are worse than fp32 on the same inputs
        fp32 = s[(s["mac.acc"] == b"fp32") & (s["k"] == 300)]["mean_rel_error"]
        fp16 = s[(s["mac.acc"] == b"fp16") & (s["k"] == 300)]["mean_rel_error"]
        check(fp16.mean() > fp32.mean() > 0, f"fp16 error {fp16.mean()} vs fp32 {fp32.mean()}")
        check(f.attrs["sweep_points"] == 24 and f.attrs["sweep_kind"] == "gemm", "root attributes")
    try:
        import pandas as pd

        df = pd.DataFrame(h5py.File(one, "r")["summary"][:])
        check(df.shape[0] == 24 and "max_rel_error" in df.columns, f"pandas: {df.shape}")
    except ImportError:
        print("note: python3-pandas is not installed; the one-line pandas read is not checked")
    same_results(one, two, "1 vs 2 threads")

    # --- no replacement without --overwrite; --resume of a finished sweep does nothing
    refused(["sweep", exp, "--out", one, "-q"], "exists", "--overwrite")
    r = run(["sweep", exp, "--out", one, "--resume"])
    check(r.returncode == 0 and "nothing to do" in r.stderr, f"resume of a finished sweep: {r.stderr}")

    # --- SIGKILL in the middle, then --resume
    killed = os.path.join(tmp, "killed.h5")
    big = os.path.join(tmp, "big.toml")
    with open(big, "w") as f:
        f.write(GEMM.replace("k = 300\n\n[[points]]", "k = 3000\n\n[[points]]").replace("m = 24", "m = 48"))
    ref = os.path.join(tmp, "big-ref.h5")
    r = run(["sweep", big, "--out", ref, "--threads", "2", "-q"])
    check(r.returncode == 0, f"reference of the kill test: {r.stderr}")
    p = subprocess.Popen([EXE, "sweep", big, "--out", killed, "--threads", "2", "-q"])
    parts = killed + ".parts"
    t0 = time.time()
    while time.time() - t0 < 300:
        n = len([x for x in os.listdir(parts) if x.endswith(".h5")]) if os.path.isdir(parts) else 0
        if n >= 4 or p.poll() is not None:
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done_before = len([x for x in os.listdir(parts) if x.endswith(".h5")])
    check(0 < done_before < 24, f"killed with {done_before} points done (want some, not all)")
    check(not os.path.exists(killed), "the results file exists after a kill")
    refused(["sweep", big, "--out", killed, "-q"], "--resume")
    refused(["sweep", exp, "--out", killed, "--resume", "-q"], "another experiment")
    r = run(["sweep", big, "--out", killed, "--threads", "2", "--resume"])
    check(r.returncode == 0, f"resume: exit {r.returncode}: {r.stderr}")
    check(f"({done_before} before)" in r.stderr, f"resume ran only the missing points: {r.stderr}")
    same_results(ref, killed, "killed and resumed vs uninterrupted")

    # --- shards and merge
    shards = []
    for i in range(3):
        sh = os.path.join(tmp, f"shard{i}.h5")
        r = run(["sweep", big, "--out", sh, "--shard", f"{i}/3", "-q"])
        check(r.returncode == 0, f"shard {i}: {r.stderr}")
        shards.append(sh)
    merged = os.path.join(tmp, "merged.h5")
    refused(["merge", merged] + shards[:2], "16 of the experiment's 24 points")
    r = run(["merge", merged] + shards)
    check(r.returncode == 0, f"merge: {r.stderr}")
    same_results(ref, merged, "merged shards vs single run")
    refused(["merge", merged] + shards, "exists")
    refused(["merge", os.path.join(tmp, "m2.h5"), shards[0], shards[0]], "is in")

    # --- across MPI ranks (when the build has MPI and mpirun is here)
    mpirun = shutil.which("mpirun")
    if os.environ.get("FP8SIM_MPI") == "1" and mpirun:
        mpi = [mpirun, "--oversubscribe", "--allow-run-as-root"]
        # under LeakSanitizer (the sanitizer suite) OpenMPI's own allocations, which it never
        # frees, would be reported as leaks of every rank: leak checking off for these runs
        menv = dict(os.environ)
        if "ASAN_OPTIONS" in menv:
            menv["ASAN_OPTIONS"] = menv["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
        for n in (2, 3):
            out = os.path.join(tmp, f"mpi{n}.h5")
            r = subprocess.run(mpi + ["-np", str(n), EXE, "sweep", big, "--out", out, "-q"],
                               capture_output=True, text=True, env=menv)
            check(r.returncode == 0, f"mpirun -np {n}: exit {r.returncode}: {r.stderr[-500:]}")
            same_results(ref, out, f"mpirun -np {n} vs one process")
        # a refusal ends every rank, one message
        r = subprocess.run(mpi + ["-np", "3", EXE, "sweep", big, "--out", ref, "-q"],
                           capture_output=True, text=True, env=menv)
        check(r.returncode == 2 and r.stderr.count("exists (give --overwrite") == 1,
              f"mpirun refusal: exit {r.returncode}: {r.stderr[-500:]}")
        # killed (every rank), resumed under MPI
        kout = os.path.join(tmp, "mpi-killed.h5")
        p = subprocess.Popen(mpi + ["-np", "3", EXE, "sweep", big, "--out", kout, "-q"],
                             start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=menv)
        kparts = kout + ".parts"
        t0 = time.time()
        while time.time() - t0 < 300:
            n = len([x for x in os.listdir(kparts) if x.endswith(".h5")]) if os.path.isdir(kparts) else 0
            if n >= 4 or p.poll() is not None:
                break
            time.sleep(0.01)
        # every rank (OpenMPI puts its ranks in process groups of their own)
        subprocess.run(["pkill", "-KILL", "-f", kout])
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        time.sleep(0.5)
        kdone = len([x for x in os.listdir(kparts) if x.endswith(".h5")])
        check(0 < kdone < 24, f"MPI run killed with {kdone} points done")
        r = subprocess.run(mpi + ["-np", "3", EXE, "sweep", big, "--out", kout, "--resume"],
                           capture_output=True, text=True, env=menv)
        check(r.returncode == 0, f"MPI resume: exit {r.returncode}: {r.stderr[-500:]}")
        same_results(ref, kout, "MPI killed and resumed vs one process")
    else:
        print("note: no MPI in this build (or no mpirun): the MPI checks are skipped")

    # --- a failing point
    failing = os.path.join(tmp, "failing.h5")
    env = dict(os.environ, FP8SIM_SWEEP_FAIL_POINT="5")
    r = run(["sweep", exp, "--out", failing, "-q"], env=env)
    check(r.returncode == 65, f"one failed point: exit {r.returncode}, want 65 ({r.stderr})")
    check("point 5 failed" in r.stderr, f"the failure is reported: {r.stderr}")
    with h5py.File(failing, "r") as f:
        s = f["summary"][:]
        check(s["status"][5] == b"failed" and b"on purpose" in s["error"][5], "failed point's row")
        check(np.isnan(s["max_rel_error"][5]), "failed point's metrics are NaN")
        check(sum(x == b"ok" for x in s["status"]) == 23, "the others completed")

    # --- a quantize sweep
    qexp = os.path.join(tmp, "q.toml")
    with open(qexp, "w") as f:
        f.write(QUANT)
    qout = os.path.join(tmp, "q.h5")
    r = run(["sweep", qexp, "--out", qout, "-q"])
    check(r.returncode == 0, f"quantize sweep: {r.stderr}")
    with h5py.File(qout, "r") as f:
        s = f["summary"][:]
        check(len(s) == 6, "6 quantize points")
        e5 = s[(s["format"] == b"e5m2") & (s["rounding"] == b"rne")]["sqnr_db"][0]
        f16 = s[(s["format"] == b"fp16") & (s["rounding"] == b"rne")]["sqnr_db"][0]
        check(20 < e5 < 30 and f16 > e5 + 40, f"SQNR e5m2 {e5} dB, fp16 {f16} dB")
        check("quantizers/x/tensor" in f["points/p000000"], "quantize point record")

    # --- a train sweep on the bundled Fashion-MNIST subset; recipe fields checked up front
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "fashion-mnist")
    texp = os.path.join(tmp, "t.toml")
    train = (f'[base]\nkind = "train"\nworkload = "mlp"\ntrain_size = 300\nvalidation_size = 50\n'
             f'test_size = 100\nbatch = 50\nepochs = 2\ndata_dir = "{data}"\n[grid]\n'
             f'"recipe.loss_scaler" = ["none", "enhanced"]\n')
    with open(texp, "w") as f:
        f.write(train)
    tout = os.path.join(tmp, "t.h5")
    r = run(["sweep", texp, "--out", tout, "--threads", "2", "-q"])
    check(r.returncode == 0, f"train sweep: {r.stderr}")
    with h5py.File(tout, "r") as f:
        s = f["summary"][:]
        check(len(s) == 2 and all(x == b"ok" for x in s["status"]), "2 train points ok")
        check(all(a > 0.3 for a in s["test_accuracy"]), f"test accuracy {s['test_accuracy']}")
        check(s["final_scale"][0] == 1 and s["final_scale"][1] > 1, f"scales {s['final_scale']}")
        check(len(f["points/p000001/train/epochs/train_loss"]) == 2, "2 epochs recorded")
    # a train point killed after its first checkpoint resumes from it, bit for bit
    long = train.replace("train_size = 300", "train_size = 900").replace("batch = 50", "batch = 10").replace(
        '"recipe.loss_scaler" = ["none", "enhanced"]', 'seed = [4]')
    lexp = os.path.join(tmp, "long.toml")
    with open(lexp, "w") as f:
        f.write(long)
    lref, lkill = os.path.join(tmp, "long-ref.h5"), os.path.join(tmp, "long-kill.h5")
    r = run(["sweep", lexp, "--out", lref, "-q"])
    check(r.returncode == 0, f"long train point: {r.stderr}")
    p = subprocess.Popen([EXE, "sweep", lexp, "--out", lkill, "-q"])
    ck = os.path.join(lkill + ".parts", "p000000.ckpt.h5")
    t0 = time.time()
    while time.time() - t0 < 300 and not os.path.exists(ck) and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    check(os.path.exists(ck), "the train point left a checkpoint when killed")
    r = run(["sweep", lexp, "--out", lkill, "--resume", "-q"])
    check(r.returncode == 0, f"train point resumed: {r.stderr}")
    check(not os.path.exists(lkill + ".parts"), "parts left after the resumed train point")
    same_results(lref, lkill, "train point killed and resumed vs uninterrupted")

    with open(bad, "w") as f:
        f.write(train.replace('"enhanced"', '"bogus"'))
    refused(["sweep", bad, "--dry-run"], "bad.toml:11:", "point 1: recipe.loss_scaler", "bogus")

    if failures:
        print(f"{failures} checks failed; files in {tmp}", file=sys.stderr)
        sys.exit(1)
    print("sweep tests passed")


if __name__ == "__main__":
    main()
