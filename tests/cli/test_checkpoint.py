#!/usr/bin/python3
"""tests/cli/test_checkpoint.py — `fp8sim train --checkpoint-every` and `--resume` end to end
($FP8SIM_EXE; $FP8SIM_SCHEMA: docs/hdf5-schema.md). On the bundled Fashion-MNIST subset:

  - an uninterrupted recorded run (the reference);
  - the same run SIGKILLed once a checkpoint exists, resumed, SIGKILLed again during the
    resumed run, resumed again: its recording holds exactly the reference's rows and its
    --json summary is the reference's, bit for bit (times excluded: the `seconds` columns,
    /status/end_time and the root's start_time, command_line, config and appended_*);
  - the same run stopped by SIGINT: exit 130, the recording closed as stopped at the
    checkpoint's step, then resumed to the same end;
  - the checkpoint matches the schema document and h5dump reads it.

The kills wait for a checkpoint file of at least some step by polling (no fixed sleeps), so
a slow machine only makes the test take longer."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXE = os.environ["FP8SIM_EXE"]
SCHEMA = os.environ.get("FP8SIM_SCHEMA", os.path.join(HERE, "..", "..", "docs", "hdf5-schema.md"))
DATA = os.path.join(HERE, "..", "data", "fashion-mnist")
POLL_LIMIT = float(os.environ.get("FP8SIM_CHECKPOINT_TIMEOUT", "600"))

# 2 epochs of 16 steps (the last batch of each epoch 4 images short), statistics every 3
# steps: resumed steps are not all sampled ones. One thread count throughout: training is
# the same for any, but the statistics' floating-point sums (error_var, sqnr_db, ...) are
# merged per thread (analysis/tensor_stats.cpp), so their last bits follow the count.
ARGS = ["train", "--recipe", "mellempudi2019", "--train-size", "156", "--validation-size", "40",
        "--test-size", "60", "--batch", "10", "--epochs", "2", "--seed", "5", "--lr", "0.05",
        "--data-dir", DATA, "--sample-every", "3", "--flush-every", "4", "--json", "-q",
        "--threads", "2"]
TOTAL = 32
EXCLUDED = {"/train/steps/seconds", "/train/epochs/seconds", "/status/end_time"}
ROOT_EXCLUDED_PREFIX = ("start_time", "command_line", "config", "appended_", "host")

failures = []


def fail(what):
    failures.append(what)
    print("FAIL: " + what, flush=True)


def run(args, cwd, want=0):
    p = subprocess.run([EXE, *args], cwd=cwd, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    if p.returncode != want:
        fail(f"{' '.join(args[-6:])}: exit {p.returncode}, wanted {want}: {p.stderr.strip()}")
    return p


def checkpoint_step(path):
    """The step of the checkpoint at `path`, or -1 when there is none (yet)."""
    try:
        with h5py.File(path, "r") as f:
            return int(f["/progress"].attrs["step"])
    except (OSError, KeyError):
        return -1


def start_and_stop(args, cwd, ckpt, at_least, sig):
    """Starts fp8sim, waits for a checkpoint of step >= at_least, sends `sig`."""
    p = subprocess.Popen([EXE, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + POLL_LIMIT
    step = -1
    while time.monotonic() < deadline and p.poll() is None:
        step = checkpoint_step(os.path.join(cwd, ckpt))
        if step >= at_least:
            break
        time.sleep(0.02)
    if p.poll() is not None:
        out, err = p.communicate()
        fail(f"the run ended (exit {p.returncode}) before it could be stopped at a checkpoint "
             f">= {at_least}: {err.strip()}")
        return p.returncode, step, out, err
    if step < at_least:
        p.kill()
        p.communicate()
        fail(f"no checkpoint of step >= {at_least} within {POLL_LIMIT:.0f} s")
        return None, step, "", ""
    p.send_signal(sig)
    out, err = p.communicate(timeout=POLL_LIMIT)
    return p.returncode, step, out, err


def datasets(path):
    """Every dataset's values and every object's attributes (not the root's excluded ones)."""
    data, attrs = {}, {}
    with h5py.File(path, "r", swmr=True) as f:
        attrs["/"] = {k: f.attrs[k] for k in f.attrs if not k.startswith(ROOT_EXCLUDED_PREFIX)}

        def visit(name, obj):
            full = "/" + name
            attrs[full] = {k: obj.attrs[k] for k in obj.attrs}
            if isinstance(obj, h5py.Dataset) and full not in EXCLUDED:
                data[full] = obj[()]
        f.visititems(visit)
    return data, attrs


def compare_recordings(ref, got, what):
    rd, ra = datasets(ref)
    gd, ga = datasets(got)
    if set(rd) != set(gd):
        fail(f"{what}: datasets differ: {sorted(set(rd) ^ set(gd))[:5]}")
    bad = [k for k in sorted(set(rd) & set(gd))
           if np.asarray(rd[k]).shape != np.asarray(gd[k]).shape
           or np.asarray(rd[k]).tobytes() != np.asarray(gd[k]).tobytes()]
    if bad:
        fail(f"{what}: {len(bad)} datasets differ, e.g. {bad[:4]}")
    for k in sorted(set(ra) & set(ga)):
        a, b = ra[k], ga[k]
        if set(a) != set(b) or any(str(a[x]) != str(b[x]) for x in a):
            fail(f"{what}: attributes of {k} differ")
    with h5py.File(got, "r") as f:  # closed normally: readable without swmr
        if int(f["/status/state"][()]) != 1:
            fail(f"{what}: /status/state is {int(f['/status/state'][()])}, wanted 1 (complete)")
        if len(f["/train/steps/step"]) != TOTAL:
            fail(f"{what}: {len(f['/train/steps/step'])} step rows, wanted {TOTAL}")
    return len(rd)


def main():
    d = tempfile.mkdtemp(prefix="fp8sim-checkpoint-")
    try:
        t0 = time.monotonic()
        ref = run(ARGS + ["--record", "ref.h5"], d)
        ref_json = json.loads(ref.stdout)
        if ref_json["steps"] != TOTAL:
            fail(f"reference: {ref_json['steps']} steps, wanted {TOTAL}")
        print(f"reference run: {time.monotonic() - t0:.1f} s", flush=True)

        # ---- SIGKILL after a checkpoint, resume, SIGKILL again, resume
        args = ARGS + ["--record", "run.h5", "--checkpoint-every", "5"]
        rc, step, _, _ = start_and_stop(args, d, "run.ckpt.h5", 5, signal.SIGKILL)
        if rc is not None and rc != -signal.SIGKILL:
            fail(f"first kill: exit {rc}")
        with h5py.File(os.path.join(d, "run.h5"), "r", swmr=True) as f:
            if int(f["/status/state"][()]) != 0:
                fail("a killed recording says it was closed")
        saved = checkpoint_step(os.path.join(d, "run.ckpt.h5"))
        print(f"killed after the checkpoint of step {saved}", flush=True)
        if saved < 5 or saved % 5 != 0:
            fail(f"checkpoint after the kill is of step {saved}")
        if shutil.which("h5dump"):
            p = subprocess.run(["h5dump", "-A", os.path.join(d, "run.ckpt.h5")],
                               capture_output=True, text=True)
            if p.returncode != 0 or "train_checkpoint" not in p.stdout:
                fail(f"h5dump cannot read the checkpoint: {p.stderr.strip()[:200]}")
        p = subprocess.run([sys.executable, os.path.join(HERE, "check_schema.py"), SCHEMA,
                            os.path.join(d, "run.ckpt.h5"), "checkpoint"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            fail("the checkpoint does not match docs/hdf5-schema.md:\n" + p.stdout[-1500:])
        if saved < 30:  # the last periodic checkpoint is that of step 30
            resume = ARGS + ["--record", "run.h5", "--resume"]
            rc, step2, _, _ = start_and_stop(resume, d, "run.ckpt.h5", min(saved + 10, 30),
                                             signal.SIGKILL)
            if rc is not None and rc != -signal.SIGKILL:
                fail(f"second kill: exit {rc}")
            print(f"killed the resumed run after the checkpoint of step {step2}", flush=True)
        res = run(ARGS + ["--record", "run.h5", "--resume"], d)
        if res.stdout and json.loads(res.stdout) != ref_json:
            fail(f"resumed summary {res.stdout.strip()} differs from {ref.stdout.strip()}")
        if res.stdout.strip() != ref.stdout.strip():
            fail("resumed --json output is not the reference's, byte for byte")
        n = compare_recordings(os.path.join(d, "ref.h5"), os.path.join(d, "run.h5"), "killed")
        with h5py.File(os.path.join(d, "run.h5"), "r") as f:
            if int(f.attrs.get("appended_runs", 0)) != (2 if saved < 30 else 1):
                fail(f"appended_runs is {f.attrs.get('appended_runs')}")
        if os.path.exists(os.path.join(d, ".run.ckpt.h5.tmp")):
            fail("a temporary checkpoint file was left behind")
        print(f"killed twice and resumed: {n} datasets bit-identical "
              f"({time.monotonic() - t0:.1f} s)", flush=True)

        # ---- SIGINT: a clean stop with a final checkpoint, then resume
        args = ARGS + ["--record", "int.h5", "--checkpoint-every", "7"]
        rc, step, _, err = start_and_stop(args, d, "int.ckpt.h5", 7, signal.SIGINT)
        if rc is not None and rc != 130:
            fail(f"SIGINT: exit {rc}, wanted 130: {err.strip()}")
        if rc == 130 and "continue with --resume" not in err:
            fail(f"SIGINT: no word of the checkpoint on stderr: {err.strip()}")
        with h5py.File(os.path.join(d, "int.h5"), "r") as f:  # closed: no swmr needed
            state, last = int(f["/status/state"][()]), int(f["/status/last_step"][()])
            rows = len(f["/train/steps/step"])
        final = checkpoint_step(os.path.join(d, "int.ckpt.h5"))
        if state != 2 or last + 1 != final or rows != final:
            fail(f"SIGINT: recording state {state}, last step {last}, {rows} rows; "
                 f"checkpoint of step {final}")
        res = run(ARGS + ["--record", "int.h5", "--resume"], d)
        if res.stdout.strip() != ref.stdout.strip():
            fail(f"SIGINT-resumed summary {res.stdout.strip()} differs")
        compare_recordings(os.path.join(d, "ref.h5"), os.path.join(d, "int.h5"), "SIGINT")
        print(f"stopped by SIGINT after step {final - 1} and resumed: identical "
              f"({time.monotonic() - t0:.1f} s)", flush=True)

        # ---- resuming a finished run's checkpoint (that of its last step): nothing left to
        # train, the last epoch report and the test again, the same summary and rows
        res = run(ARGS + ["--record", "run.h5", "--resume"], d)
        if res.stdout.strip() != ref.stdout.strip():
            fail("resuming a finished run again changed its summary")
        compare_recordings(os.path.join(d, "ref.h5"), os.path.join(d, "run.h5"), "again")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"checkpoint: {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
