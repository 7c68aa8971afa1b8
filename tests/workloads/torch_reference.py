#!/usr/bin/python3
"""The PyTorch side of tests/workloads/test_torch_reference.cpp: an independent implementation
of fp8sim's `mlp` and `resnet` workloads (workloads/nn/mlp.hpp, resnet.hpp) in torch.nn, and of
its SGD step (torch.optim.SGD).

usage: /usr/bin/python3 torch_reference.py DIR

DIR/manifest.txt, written by the C++ test, one item a line:
  model mlp SIZE...                    (e.g. "model mlp 784 64 32 10")
  model resnet WIDTH BLOCKS IN_CH CLASSES
  passes P                             (passes 0 .. P-1; an SGD step after each but the last)
  sgd LR MOMENTUM
  batch N C H W                        (DIR/batch.f32: N*C*H*W float32; DIR/labels.u8: N bytes)
  param NAME DIM...
  buffer NAME DIM...                   (BatchNorm running statistics)
and per pass S, fp8sim's state before it: DIR/state/S/NAME.f32 for every param and buffer,
and for S >= 1 DIR/momentum/S/NAME.f32, SGD's momentum buffer of every param. Every .f32 file
is raw little-endian float32, row-major, in PyTorch's layout.

Each pass starts from fp8sim's state (so the two implementations are compared step by step,
not along two trajectories that part at the first ReLU input that rounds to the other side of
zero): load the state (every name must be exactly torch's; num_batches_tracked is not modelled,
with a fixed momentum it does not enter) and the momentum buffers, forward (train mode) +
mean cross-entropy + backward, and torch.optim.SGD(lr, momentum).step() unless last. This runs
in float32 (the reference) and in float64 (nearly exact), writing into DIR/out32 and DIR/out64:
  losses.txt           P losses (repr of a Python float), one a line
  S/grad/NAME.f32      the gradients of pass S
  S/buffer/NAME.f32    the buffers after pass S (its forward updates them)
  S/step/NAME.f32      the parameters after the step that follows pass S (S < P-1)
all float32; and DIR/kinks.txt, per pass "S MIN_ABS FLIPS": the smallest |ReLU input| of the
float32 run, and how many ReLU decisions (input > 0) the float32 and float64 runs took
differently. Prints "torch_reference: ok torch VERSION" and exits 0; exits 3 with
"FP8SIM_NO_TORCH: ..." when torch cannot be imported, non-zero on any other failure.
"""
import collections
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as e:  # the C++ test turns this into a failure naming python3-torch
    print(f"FP8SIM_NO_TORCH: cannot import torch/numpy ({e})")
    sys.exit(3)


class ReluLog:
    """Every ReLU of the models goes through `relu` below: it keeps, per pass, the smallest
    |input| and the decisions (input > 0), to tell whether a pass sits close to a kink."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.min_abs = float("inf")
        self.masks = []

    def __call__(self, x):
        self.min_abs = min(self.min_abs, x.detach().abs().min().item())
        self.masks.append(x.detach() > 0)
        return F.relu(x)


relu = ReluLog()


class Mlp(nn.Module):
    """fc1, fc2, ...: Linear layers with ReLU between them (workloads/nn/mlp.hpp)."""

    def __init__(self, sizes):
        super().__init__()
        self.n = len(sizes) - 1
        for i in range(self.n):
            self.add_module(f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for i in range(self.n):
            x = getattr(self, f"fc{i + 1}")(x)
            if i + 1 < self.n:
                x = relu(x)
        return x


class ConvBn(nn.Module):
    """conv (no bias) + bn: the stem and the projection shortcut."""

    def __init__(self, cin, cout, k, stride, pad):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, pad, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.shortcut = ConvBn(cin, cout, 1, stride, 0) if stride != 1 or cin != cout else None

    def forward(self, x):
        h = relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class Resnet(nn.Module):
    """stem, stage1..3 of `blocks` basic blocks (widths c, 2c, 4c), global average pool, fc
    (workloads/nn/resnet.hpp)."""

    def __init__(self, width, blocks, in_ch, classes):
        super().__init__()
        self.stem = ConvBn(in_ch, width, 3, 1, 1)
        ch = width
        for s in range(1, 4):
            w = width << (s - 1)
            layers = collections.OrderedDict()
            for b in range(1, blocks + 1):
                layers[f"block{b}"] = BasicBlock(ch, w, 2 if s > 1 and b == 1 else 1)
                ch = w
            self.add_module(f"stage{s}", nn.Sequential(layers))
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x):
        h = relu(self.stem(x))
        for s in range(1, 4):
            h = getattr(self, f"stage{s}")(h)
        return self.fc(h.mean(dim=(2, 3)))


def read_manifest(folder):
    m = {"params": [], "buffers": []}
    with open(os.path.join(folder, "manifest.txt")) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "model":
                m["model"] = w[1]
                m["model_args"] = [int(v) for v in w[2:]]
            elif w[0] == "passes":
                m["passes"] = int(w[1])
            elif w[0] == "sgd":
                m["lr"], m["momentum"] = float(w[1]), float(w[2])
            elif w[0] == "batch":
                m["batch"] = [int(v) for v in w[1:]]
            elif w[0] in ("param", "buffer"):
                m[w[0] + "s"].append((w[1], [int(v) for v in w[2:]]))
            else:
                raise ValueError(f"manifest: unknown line {line!r}")
    return m


def read_f32(path, shape):
    a = np.fromfile(path, dtype="<f4")
    if a.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {a.size} values, want {shape}")
    return torch.from_numpy(a.reshape(shape))


def write_f32(path, t):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def build(m, dtype):
    if m["model"] == "mlp":
        model = Mlp(m["model_args"])
    elif m["model"] == "resnet":
        model = Resnet(*m["model_args"])
    else:
        raise ValueError(f"unknown model {m['model']}")
    model = model.to(dtype)
    ours = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    theirs = {n for n, _ in m["params"] + m["buffers"]}
    if ours != theirs:
        raise ValueError(f"state names differ: only torch {sorted(ours - theirs)}, "
                         f"only fp8sim {sorted(theirs - ours)}")
    if {n for n, _ in model.named_parameters()} != {n for n, _ in m["params"]}:
        raise ValueError("the manifest's params are not torch's parameters")
    return model


def run(folder, m, dtype, out):
    """The passes in `dtype`; writes `out`; returns per pass (min |ReLU input|, decisions)."""
    model = build(m, dtype)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    x = read_f32(os.path.join(folder, "batch.f32"), m["batch"]).to(dtype)
    y = torch.from_numpy(np.fromfile(os.path.join(folder, "labels.u8"), dtype=np.uint8)).long()
    if y.numel() != m["batch"][0]:
        raise ValueError("labels: wrong count")
    opt = torch.optim.SGD(model.parameters(), lr=m["lr"], momentum=m["momentum"], foreach=False)
    model.train()
    losses, passes = [], []
    for s in range(m["passes"]):
        state = os.path.join(folder, "state", str(s))
        with torch.no_grad():
            for name, shape in m["params"]:
                params[name].copy_(read_f32(os.path.join(state, name + ".f32"), shape))
            for name, shape in m["buffers"]:
                buffers[name].copy_(read_f32(os.path.join(state, name + ".f32"), shape))
        if s > 0:  # fp8sim's momentum buffers (pass 0: none yet, the first step starts them)
            for name, shape in m["params"]:
                buf = read_f32(os.path.join(folder, "momentum", str(s), name + ".f32"), shape)
                opt.state[params[name]]["momentum_buffer"] = buf.to(dtype)
        opt.zero_grad(set_to_none=True)
        relu.reset()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.item())
        passes.append((relu.min_abs, relu.masks))
        here = os.path.join(out, str(s))
        for name, _ in m["params"]:
            write_f32(os.path.join(here, "grad", name + ".f32"), params[name].grad)
        for name, _ in m["buffers"]:
            write_f32(os.path.join(here, "buffer", name + ".f32"), buffers[name])
        if s + 1 < m["passes"]:
            opt.step()
            for name, _ in m["params"]:
                write_f32(os.path.join(here, "step", name + ".f32"), params[name])
    with open(os.path.join(out, "losses.txt"), "w") as f:
        for v in losses:
            f.write(repr(v) + "\n")
    return passes


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_reference.py DIR")
    folder = sys.argv[1]
    torch.set_num_threads(1)  # these models are small: more threads only cost here
    m = read_manifest(folder)
    p32 = run(folder, m, torch.float32, os.path.join(folder, "out32"))
    p64 = run(folder, m, torch.float64, os.path.join(folder, "out64"))
    with open(os.path.join(folder, "kinks.txt"), "w") as f:
        for s, ((min_abs, a), (_, b)) in enumerate(zip(p32, p64)):
            flips = sum(int((u != v).sum().item()) for u, v in zip(a, b))
            f.write(f"{s} {min_abs!r} {flips}\n")
    print(f"torch_reference: ok torch {torch.__version__}")


if __name__ == "__main__":
    main()
