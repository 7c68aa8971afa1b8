#!/usr/bin/python3
"""The PyTorch side of tests/workloads/test_torch_reference.cpp: an independent implementation
of fp8sim's `mlp` and `resnet` workloads (workloads/nn/mlp.hpp, resnet.hpp) in torch.nn.

usage: /usr/bin/python3 torch_reference.py DIR

DIR/manifest.txt, written by the C++ test, one item a line:
  model mlp SIZE...                    (e.g. "model mlp 784 64 32 10")
  model resnet WIDTH BLOCKS IN_CH CLASSES
  steps K                              (K SGD steps, K + 1 forward/backward passes)
  sgd LR MOMENTUM
  batch N C H W                        (DIR/batch.f32: N*C*H*W float32; DIR/labels.u8: N bytes)
  param NAME DIM...                    (DIR/init/NAME.f32: the initial values)
  buffer NAME DIM...                   (DIR/init/NAME.f32: BatchNorm running statistics)
Every .f32 file is raw little-endian float32, row-major, in PyTorch's layout.

For each dtype (float32, the reference the test checks against; float64, to show how far
fp32 itself is from exact) the script builds the model, loads the state (every parameter and
buffer by name: the names must be exactly torch's, num_batches_tracked aside), and runs, on the
same batch each time, K + 1 passes of forward (train mode) + mean cross-entropy + backward with
torch.optim.SGD(lr, momentum) stepping between them. It writes into DIR/out32 and DIR/out64:
  losses.txt          K + 1 losses (repr of a Python float), one a line
  grad0/NAME.f32      the gradients of the first pass (initial weights)
  gradK/NAME.f32      the gradients of the last pass (after K steps)
  param/NAME.f32      the parameters after K steps
  buffer/NAME.f32     the buffers after the K + 1 passes
all as float32, and DIR/kinks.txt: per pass "PASS MIN_ABS FLIPS", the smallest |ReLU input| of
the float32 run and the number of ReLU decisions in which the float32 and float64 runs differ. Prints "torch_reference: ok torch VERSION" and exits 0; exits 3 with
"FP8SIM_NO_TORCH: ..." when torch cannot be imported, and non-zero on any other failure.
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
    """Every ReLU of a pass goes through relu() below; it keeps the smallest |input| and the
    decisions (input > 0), to tell whether a pass sits close to a kink of the loss."""

    def __init__(self):
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
    """stem, stage1..3 of `blocks` basic blocks (widths c, 2c, 4c), global average pool, fc."""

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
            elif w[0] == "steps":
                m["steps"] = int(w[1])
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
    return a.reshape(shape)


def write_f32(path, t):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def run(folder, m, dtype, out):
    """Runs the K + 1 passes in `dtype`, writes `out`; returns per pass (min |ReLU input|,
    the ReLU decisions)."""
    if m["model"] == "mlp":
        model = Mlp(m["model_args"])
    elif m["model"] == "resnet":
        model = Resnet(*m["model_args"])
    else:
        raise ValueError(f"unknown model {m['model']}")
    model = model.to(dtype)
    # the state by name: exactly the tensors torch has (num_batches_tracked is not modelled;
    # with a fixed momentum it does not enter the computation)
    state = {}
    for name, shape in m["params"] + m["buffers"]:
        state[name] = torch.from_numpy(read_f32(os.path.join(folder, "init", name + ".f32"), shape))
    ours = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    if ours != set(state):
        raise ValueError(f"state names differ: only torch {sorted(ours - set(state))}, "
                         f"only fp8sim {sorted(set(state) - ours)}")
    params = dict(model.named_parameters())
    if set(params) != {n for n, _ in m["params"]}:
        raise ValueError("the parameters are not the manifest's params")
    missing, unexpected = model.load_state_dict({k: v.to(dtype) for k, v in state.items()},
                                                strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ValueError(f"load_state_dict: missing {missing}, unexpected {unexpected}")

    x = torch.from_numpy(read_f32(os.path.join(folder, "batch.f32"), m["batch"])).to(dtype)
    y = torch.from_numpy(np.fromfile(os.path.join(folder, "labels.u8"), dtype=np.uint8)).long()
    if y.numel() != m["batch"][0]:
        raise ValueError("labels: wrong count")
    opt = torch.optim.SGD(model.parameters(), lr=m["lr"], momentum=m["momentum"], foreach=False)
    model.train()
    losses, passes = [], []
    k = m["steps"]
    for s in range(k + 1):
        opt.zero_grad(set_to_none=True)
        relu.__init__()
        loss = F.cross_entropy(model(x), y)
        passes.append((relu.min_abs, relu.masks))
        loss.backward()
        losses.append(loss.item())
        if s in (0, k):
            for name, p in params.items():
                write_f32(os.path.join(out, "grad0" if s == 0 else "gradK", name + ".f32"), p.grad)
        if s < k:
            opt.step()
    for name, p in params.items():
        write_f32(os.path.join(out, "param", name + ".f32"), p)
    buffers = dict(model.named_buffers())
    for name, _ in m["buffers"]:
        write_f32(os.path.join(out, "buffer", name + ".f32"), buffers[name])
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
    # kinks.txt, per pass: the smallest |ReLU input| of the float32 run, and how many ReLU
    # decisions the float32 and float64 runs took differently (a ReLU input that close to 0
    # makes the loss non-smooth there: its gradients, and every later pass, then depend on
    # rounding noise)
    with open(os.path.join(folder, "kinks.txt"), "w") as f:
        for s, ((min_abs, a), (_, b)) in enumerate(zip(p32, p64)):
            flips = sum(int((u != v).sum().item()) for u, v in zip(a, b))
            f.write(f"{s} {min_abs!r} {flips}\n")
    print(f"torch_reference: ok torch {torch.__version__}")


if __name__ == "__main__":
    main()
