#!/usr/bin/python3
"""tests/cli/test_hostile.py — the catalogue of hostile inputs (tests/cli/hostile_inputs*.txt)
run against the fp8sim executable ($FP8SIM_EXE).

Each case runs in a fresh copy of a folder of fixtures (small valid and broken files made
here), through bash, with `fp8sim` on PATH. It passes when
  - the exit status is the expected one (a hang past the time limit fails);
  - the fragment appears in stderr (in stdout+stderr for status 0 and 1);
  - an error (status 2) is exactly one line on stderr, starting "fp8sim: error: ", at most
    400 characters long, and never an "internal error";
  - no file was left behind, changed or removed in the folder, unless the case names it
    after `keep=` (it must then exist).
The rules are those of docs/cli-conventions.md.
"""
import concurrent.futures
import glob
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CATALOGUES = sorted(glob.glob(os.path.join(HERE, "hostile_inputs*.txt")))
EXE = os.environ["FP8SIM_EXE"]
# the bundled Fashion-MNIST subset: train cases read it through $FP8SIM_FASHION_MNIST_DIR
FASHION = os.path.join(os.path.dirname(HERE), "data", "fashion-mnist")
TIME_LIMIT = float(os.environ.get("FP8SIM_HOSTILE_TIMEOUT", "120"))
MIN_CASES = 150
SANITIZED = "ASAN_OPTIONS" in os.environ  # the sanitizer build (scripts/test --sanitize)


def npy_bytes(descr, shape, fortran=False, payload=b"", header=None):
    """A .npy (version 1.0) file with the given header fields and raw payload."""
    if header is None:
        header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
            descr, "True" if fortran else "False", shape)
    h = header.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload


def make_fixtures(d):
    """The files every case starts from (see the header of hostile_inputs.txt)."""
    def w(name, data, mode="wb"):
        with open(os.path.join(d, name), mode) as f:
            f.write(data)

    import numpy as np
    a = np.arange(16, dtype="<f4").reshape(4, 4) / 8
    np.save(os.path.join(d, "a44.npy"), a)
    np.save(os.path.join(d, "b44.npy"), a.T.copy())
    np.save(os.path.join(d, "b54.npy"), np.ones((5, 4), dtype="<f8"))
    np.save(os.path.join(d, "v3.npy"), np.ones(3, dtype="<f4"))
    np.save(os.path.join(d, "a44f.npy"), np.asfortranarray(a))
    # headers that lie or that the reader must refuse by name
    w("huge1d.npy", npy_bytes("<f4", "(1000000000,)"))
    w("huge2d.npy", npy_bytes("<f4", "(100000, 100000)"))
    w("short.npy", npy_bytes("<f4", "(4, 4)", payload=b"\0" * 20))
    w("descr_comma.npy", npy_bytes("f4,", "(2, 2)", payload=b"\0" * 16))
    w("fortran_nospace.npy", npy_bytes("<f4", "(2, 2)", payload=b"\0" * 16,
                                       header="{'descr': '<f4', 'fortran_order':True, "
                                              "'shape': (2, 2), }"))
    w("bigendian.npy", npy_bytes(">f4", "(2, 2)", payload=b"\0" * 16))
    w("complex.npy", npy_bytes("<c8", "(2, 2)", payload=b"\0" * 32))
    w("object.npy", npy_bytes("|O", "(2,)", payload=b"\0" * 16))
    w("structured.npy", npy_bytes("", "(2,)", payload=b"\0" * 16,
                                  header="{'descr': [('x', '<f4')], 'fortran_order': False, "
                                         "'shape': (2,), }"))
    w("negshape.npy", npy_bytes("<f4", "(-4, 4)", payload=b"\0" * 64))
    w("badmagic.npy", b"NOTNUMPY" + b"\0" * 120)
    w("garbage_header.npy", npy_bytes("<f4", "(2, 2)", payload=b"\0" * 16,
                                      header="{'descr': '<f4', 'fortran_order': False, "
                                             "'shape': (2, 2), 'extra': 1, }"))
    w("empty.npy", b"")
    w("overflow_shape.npy", npy_bytes("<f4", "(18446744073709551616, 2)"))
    w("mulover.npy", npy_bytes("<f4", "(4294967296, 4294967296, 4294967296)"))
    w("a3d.npy", npy_bytes("<f4", "(2, 2, 2)", payload=b"\0" * 32))
    # text inputs
    w("values.txt", "0.5 1.5\n-2 # a comment\n3e-3\n", "w")
    w("bad_values.txt", "0.5\nabc\n", "w")
    w("empty.txt", "", "w")
    w("huge_decimal.txt", "1e400\n", "w")
    # vectors (Berkeley TestFloat format), good and broken
    w("f16_mul.tv", "3C00 3C00 3C00 00\n4000 4000 4400 00\n", "w")
    w("f16_mul_bad.tv", "3C00 3C00 3C01 00\n", "w")
    w("garbage.tv", "hello world\n", "w")
    w("empty.tv", "", "w")
    w("comments_only.tv", "# nothing here\n\n", "w")
    # measured-GPU vectors (vectors check --gpu): the Fasi et al. 2021 V100 probe (1*1 +
    # -(1-2^-24) gives 2^-23 on a V100), a wrong result, and broken files
    head = "# fields: gpu=v100 in=fp16 out=fp32 k=4 c=fp32 cases=%d\n"
    probe = "3F800000 00000000 00000000 00000000 ; 3F800000 00000000 00000000 00000000 ; "
    w("v100-fp16-fp32.txt", head % 1 + probe + "BF7FFFFF ; 34000000\n", "w")
    w("gpu_wrong.txt", head % 1 + probe + "BF7FFFFF ; 33800000\n", "w")
    w("gpu_count.txt", head % 2 + probe + "BF7FFFFF ; 34000000\n", "w")
    w("gpu_nofields.txt", probe + "BF7FFFFF ; 34000000\n", "w")
    w("gpu_short.txt", head % 1 + "3F800000 ; 3F800000 ; 00000000 ; 3F800000\n", "w")
    w("gpu_inexact.txt", head % 1 + probe.replace("3F800000 0", "3F800001 0", 1) +
      "BF7FFFFF ; 34000000\n", "w")
    w("gpu_empty.txt", head % 0, "w")
    # training recipes (fp8sim train --recipe FILE), good and broken
    w("recipe_ok.toml", 'base = "hfp8"\nname = "mine"\nloss_scaler = "static:512"\n'
      '[weight]\nround = "sr:4"\n', "w")
    w("recipe_syntax.toml", '[weight]\nformat = "e5m2"\nround = rne\n', "w")
    w("recipe_unknown.toml", 'base = "mellempudi2019"\n[weight]\nfromat = "e5m2"\n', "w")
    w("recipe_badformat.toml", '[error]\nformat = "fp9"\n', "w")
    w("recipe_badtype.toml", '[weight]\nformat = 8\n', "w")
    w("recipe_mismatch.toml", 'base = "mellempudi2019"\n[weight]\nformat = "e4m3fn"\n', "w")
    w("recipe_deep.toml", "a." * 100000 + "b = 1\n", "w")
    os.mkdir(os.path.join(d, "adir"))
    # recordings and dumps, made by fp8sim itself
    run = lambda *args: subprocess.run([EXE, *args], cwd=d, check=True,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("gemm", "--m", "8", "--n", "8", "--k", "8", "--steps", "3", "--record", "run.h5", "-q")
    run("gemm", "--m", "4", "--n", "4", "--k", "4", "--dump", "dump.h5", "-q")
    with open(os.path.join(d, "run.h5"), "rb") as f:
        data = f.read()
    w("trunc.h5", data[: len(data) // 3])
    w("noth5.h5", b"this is not an HDF5 file\n" * 10)
    w("empty.h5", b"")
    # a read-only file and folder (checked as user nobody: root ignores permissions)
    w("noread.npy", open(os.path.join(d, "a44.npy"), "rb").read())
    os.chmod(os.path.join(d, "noread.npy"), 0)
    os.mkdir(os.path.join(d, "rodir"))
    os.chmod(os.path.join(d, "rodir"), stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP |
             stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    make_file_fixtures(d)


def make_file_fixtures(d):
    """More broken inputs for hostile_inputs_files.txt: .npy headers, HDF5 datasets of the
    wrong kind, and recordings forged with h5py (see the header of that catalogue)."""
    import h5py
    import numpy as np

    def w(name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    def p(name):
        return os.path.join(d, name)

    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }"
    w("string.npy", npy_bytes("", "", payload=b"\0" * 24, header=hdr % ("<U3", "(2,)")))
    w("bool.npy", npy_bytes("|b1", "(4,)", payload=b"\1" * 4))
    w("half.npy", npy_bytes("<f2", "(2,)", payload=b"\0" * 4))
    w("listshape.npy", npy_bytes("", "", payload=b"\0" * 8, header=hdr % ("<f4", "[2]")))
    w("floatdim.npy", npy_bytes("", "", payload=b"\0" * 8, header=hdr % ("<f4", "(2.5,)")))
    w("noshape.npy", npy_bytes("", "", payload=b"\0" * 8,
                               header="{'descr': '<f4', 'fortran_order': False, }"))
    w("dupkey.npy", npy_bytes("", "", payload=b"\0" * 8,
                              header="{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
                                     "'shape': (2,), }"))
    w("extra_bytes.npy", npy_bytes("<f4", "(2,)", payload=b"\0" * 12))
    w("bytesover.npy", npy_bytes("<f8", "(2305843009213693952,)"))
    w("version9.npy", b"\x93NUMPY\x09\x00" + npy_bytes("<f4", "(1,)", payload=b"\0" * 4)[8:])
    w("cuthdr.npy", npy_bytes("<f4", "(2, 2)")[:40])
    w("hugehdr.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{")
    w("tight.npy", npy_bytes("", "", payload=struct.pack("<2f", 0.5, 2.0),
                             header='{"descr":"<f4","fortran_order":False,"shape":(2,)}'))
    for major in (2, 3):
        with open(p(f"ver{major}.npy"), "wb") as f:
            np.lib.format.write_array(f, np.arange(6, dtype="<i8").reshape(2, 3) - 2,
                                      version=(major, 0))
    np.save(p("u16.npy"), np.array([1, 2, 65535], dtype="<u2"))
    np.save(p("scalar.npy"), np.float64(0.375))
    np.save(p("c3.npy"), np.arange(24, dtype="<f4").reshape(2, 3, 4) / 4)
    np.save(p("f3.npy"), np.asfortranarray(np.arange(24, dtype="<f4").reshape(2, 3, 4) / 4))
    # HDF5 datasets that are not numbers, or too big to read
    with h5py.File(p("types.h5"), "w") as f:
        f["text"] = np.array([b"ab", b"cd"])
        f["pairs"] = np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")])
        f["flags"] = np.array([True, False])
        f["null"] = h5py.Empty("f4")
        f["ok"] = np.arange(6, dtype=">i2").reshape(2, 3)
        f.create_dataset("huge", shape=(10 ** 12,), dtype="f4", chunks=(1024,))
    with h5py.File(p("plain.h5"), "w") as f:
        f["x"] = np.ones(3)
    # recordings forged from real ones (run.h5: 3 steps; run20.h5: 20 steps)
    subprocess.run([EXE, "gemm", "--m", "4", "--n", "4", "--k", "4", "--steps", "20",
                    "--record", "run20.h5", "-q"], cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def forge(name, change, src="run.h5"):
        shutil.copyfile(p(src), p(name))
        with h5py.File(p(name), "r+") as f:
            change(f)

    def replace(f, path, data):
        del f[path]
        f[path] = data

    forge("badversion.h5", lambda f: f.attrs.__setitem__("schema_version", 999))
    forge("strversion.h5", lambda f: f.attrs.__setitem__("schema_version", "one"))
    forge("nocount.h5", lambda f: f.__delitem__("/gemms/C/count"))
    forge("strcount.h5", lambda f: replace(f, "/gemms/C/count", np.array([b"1", b"2", b"3"])))
    forge("negcount.h5", lambda f: replace(f, "/quantizers/B/weight/underflow",
                                           np.array([0, -5, 1], dtype="<i8")))
    forge("shortcol.h5", lambda f: f["/quantizers/A/activation/amax"].resize((10,)),
          src="run20.h5")
    forge("badsteps.h5", lambda f: f["/gradients/C/step"].__setitem__(slice(None),
                                                                      np.array([0, 2, 1])))
    forge("noattr.h5", lambda f: f["/gemms/C"].attrs.__delitem__("format"))
    forge("extra.h5", lambda f: f.create_group("/extra"))
    forge("badstate.h5", lambda f: f["/status/state"].write_direct(np.array(9, dtype="<i8")))

    def stopped(f):
        for k, v in (("signal", 15), ("last_step", 1), ("state", 2)):
            f["/status/" + k].write_direct(np.array(v, dtype="<i8"))
    forge("stopped.h5", stopped)
    forge("killed.h5", lambda f: f["/status/state"].write_direct(np.array(0, dtype="<i8")))

    def version1(f):
        del f["/status"]
        f.attrs["schema_version"] = 1
    forge("v1.h5", version1)

    # a training checkpoint (fp8sim train --checkpoint-every) and broken copies of it
    subprocess.run([EXE, "train", "--recipe", "fp32", "--train-size", "20", "--validation-size",
                    "0", "--test-size", "10", "--batch", "10", "--checkpoint-every", "1",
                    "--checkpoint", "ck.h5", "--data-dir", FASHION, "-q"], cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    forge("ck_gap.h5", lambda f: f.__delitem__("/master/fc1.weight"), src="ck.h5")
    forge("ck_version.h5", lambda f: f.attrs.__setitem__("checkpoint_version", 9), src="ck.h5")
    forge("ck_scale.h5", lambda f: f["/loss_scaler"].attrs.__setitem__("scale", -1.0),
          src="ck.h5")
    forge("ck_step.h5", lambda f: f["/progress"].attrs.__setitem__("step", 7), src="ck.h5")


def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, d)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                h = hashlib.sha1()
                try:
                    with open(p, "rb") as f:
                        h.update(f.read())
                except PermissionError:
                    pass
                out[rel] = (st.st_size, h.hexdigest(), stat.S_IMODE(st.st_mode))
    return out


def parse_catalogue(path):
    cases = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            s = line.rstrip("\n")
            if not s.strip() or s.lstrip().startswith("#"):
                continue
            parts = s.split(" | ", 2)
            if len(parts) != 3:
                sys.exit(f"{path}:{lineno}: want 'STATUS | FRAGMENT | COMMAND'")
            head, frag, cmd = (p.strip() for p in parts)
            words = head.split()
            status = int(words[0])
            keep = []
            skip = False
            for w in words[1:]:
                if w.startswith("keep="):
                    keep += w[5:].split(",")
                elif w == "nosan":
                    skip = SANITIZED
                else:
                    sys.exit(f"{path}:{lineno}: unknown marker '{w}'")
            if not skip:
                cases.append((f"{os.path.basename(path)}:{lineno}", status, frag, cmd, keep))
    return cases


def run_case(template, bindir, case):
    lineno, status, frag, cmd, keep = case
    d = tempfile.mkdtemp(prefix="hostile-")
    os.chmod(d, 0o755)  # cases run as user nobody must reach their folder
    try:
        work = os.path.join(d, "w")
        shutil.copytree(template, work, symlinks=True)
        before = snapshot(work)
        env = dict(os.environ)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env["LC_ALL"] = "C"
        env["FP8SIM_FASHION_MNIST_DIR"] = FASHION
        env.pop("FP8SIM_ISA", None)
        try:
            p = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True,
                               timeout=TIME_LIMIT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return lineno, cmd, [f"no answer within {TIME_LIMIT:.0f} s (a hang)"]
        err = p.stderr.decode("utf-8", "replace")
        out = p.stdout.decode("utf-8", "replace")
        problems = []
        if p.returncode != status:
            problems.append(f"exit {p.returncode}, wanted {status}")
        where = err if status not in (0, 1) else out + err
        if frag and frag not in where:
            problems.append(f"'{frag}' not in the output")
        if "internal error" in err:
            problems.append("an internal error")
        if status == 2:
            lines = err.splitlines()
            if len(lines) != 1:
                problems.append(f"{len(lines)} lines on stderr, wanted 1")
            if lines and not lines[0].startswith("fp8sim: error: "):
                problems.append("stderr does not start with 'fp8sim: error: '")
            if len(err) > 400:
                problems.append(f"message of {len(err)} characters (at most 400)")
        after = snapshot(work)
        for k in keep:
            if k not in after:
                problems.append(f"'{k}' was not made")
        for name in sorted(set(before) | set(after)):
            if name in keep or any(name.startswith(k + "/") for k in keep):
                continue
            if name not in after:
                problems.append(f"'{name}' was removed")
            elif name not in before:
                problems.append(f"'{name}' was left behind")
            elif before[name] != after[name]:
                problems.append(f"'{name}' was changed")
        if problems:
            problems.append("stderr: " + err.strip()[:600])
        return lineno, cmd, problems
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    cases = [c for path in CATALOGUES for c in parse_catalogue(path)]
    only = sys.argv[1:]
    if only:  # run the cases whose command contains any of the given strings
        cases = [c for c in cases if any(s in c[3] for s in only)]
    elif len(cases) < MIN_CASES:
        sys.exit(f"the catalogue holds {len(cases)} cases; it must hold at least {MIN_CASES}")
    top = tempfile.mkdtemp(prefix="hostile-fixtures-")
    try:
        template = os.path.join(top, "fixtures")
        os.mkdir(template)
        make_fixtures(template)
        bindir = os.path.join(top, "bin")
        os.mkdir(bindir)
        os.symlink(EXE, os.path.join(bindir, "fp8sim"))
        os.chmod(top, 0o755)
        failed = 0
        workers = max(1, min(4, os.cpu_count() or 1))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for lineno, cmd, problems in pool.map(lambda c: run_case(template, bindir, c), cases):
                if problems:
                    failed += 1
                    print(f"FAIL {lineno}: {cmd}")
                    for pr in problems:
                        print("    " + pr)
        print(f"hostile inputs: {len(cases) - failed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
    finally:
        for root, dirs, _ in os.walk(top):
            for x in dirs:
                os.chmod(os.path.join(root, x), 0o755)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
