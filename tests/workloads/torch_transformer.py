#!/usr/bin/python3
"""The PyTorch side of tests/workloads/test_torch_transformer.cpp: fp8sim's `transformer`
workload (workloads/nn/transformer.hpp) rebuilt from torch.nn's own modules,
nn.Transformer(norm_first=True, activation="gelu", batch_first=True) with nn.Embedding
(padding_idx 0) plus a learned position table on each side and an untied output Linear, and
CrossEntropyLoss(label_smoothing, ignore_index=0). Dropout is 0 (the C++ side's FD tests
cover dropout); train mode, so torch's fast inference path (which zeroes padded rows) is off.

usage: /usr/bin/python3 torch_transformer.py DIR

DIR/manifest.txt, written by the C++ test, one item a line:
  model SRC_VOCAB TGT_VOCAB D_MODEL HEADS FF ENC_LAYERS DEC_LAYERS MAX_LEN
  batch B S T                  (DIR/src.i32: B*S, DIR/tgt_in.i32, DIR/targets.i32: B*T int32)
  smoothing EPS
  param NAME DIM...            (DIR/param/NAME.f32: fp8sim's value, raw float32 row-major)
Writes, for float32 and float64 runs, into DIR/out32 and DIR/out64 (all float32 files):
  loss.txt, logits.f32 (B*T x TGT_VOCAB), grad/NAME.f32 for every param.
Prints "torch_transformer: ok torch VERSION" and exits 0; exits 3 with "FP8SIM_NO_TORCH: ..."
when torch cannot be imported, non-zero on any other failure.
"""
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


def read_manifest(folder):
    m = {"params": []}
    with open(os.path.join(folder, "manifest.txt")) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "param":
                m["params"].append((w[1], [int(x) for x in w[2:]]))
            elif w[0] == "smoothing":
                m["smoothing"] = float(w[1])
            else:
                m[w[0]] = [int(x) for x in w[1:]]
    return m


class Model(nn.Module):
    def __init__(self, sv, tv, d, heads, ff, ne, nd, max_len):
        super().__init__()
        self.src_emb = nn.Embedding(sv, d, padding_idx=0)
        self.tgt_emb = nn.Embedding(tv, d, padding_idx=0)
        self.src_pos = nn.Parameter(torch.zeros(max_len, d))
        self.tgt_pos = nn.Parameter(torch.zeros(max_len, d))
        self.tf = nn.Transformer(d, heads, ne, nd, ff, dropout=0.0, activation="gelu",
                                 batch_first=True, norm_first=True)
        self.out = nn.Linear(d, tv)

    def forward(self, src, tgt):
        S, T = src.shape[1], tgt.shape[1]
        x = self.src_emb(src) + self.src_pos[:S]
        y = self.tgt_emb(tgt) + self.tgt_pos[:T]
        causal = torch.triu(torch.full((T, T), float("-inf"), dtype=x.dtype), diagonal=1)
        h = self.tf(x, y, tgt_mask=causal, src_key_padding_mask=src == 0,
                    tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src == 0)
        return self.out(h)


def slot(model, name):
    """fp8sim's parameter NAME as (torch tensor, row slice or None): q, k and v live in
    nn.MultiheadAttention's packed in_proj_weight / in_proj_bias."""
    tf = model.tf
    fixed = {"enc.embed.weight": model.src_emb.weight, "enc.embed.position": model.src_pos,
             "dec.embed.weight": model.tgt_emb.weight, "dec.embed.position": model.tgt_pos,
             "enc.norm.weight": tf.encoder.norm.weight, "enc.norm.bias": tf.encoder.norm.bias,
             "dec.norm.weight": tf.decoder.norm.weight, "dec.norm.bias": tf.decoder.norm.bias,
             "out.weight": model.out.weight, "out.bias": model.out.bias}
    if name in fixed:
        return fixed[name], None
    parts = name.split(".")  # enc1.attn.q.weight, dec2.norm3.bias, enc1.ff1.weight
    layer = (tf.encoder if parts[0].startswith("enc") else tf.decoder).layers[int(parts[0][3:]) - 1]
    kind = parts[-1]
    if parts[1] in ("attn", "cross"):
        mha = layer.self_attn if parts[1] == "attn" else layer.multihead_attn
        if parts[2] == "o":
            return getattr(mha.out_proj, kind), None
        d = mha.embed_dim
        i = "qkv".index(parts[2])
        return getattr(mha, "in_proj_" + kind), slice(i * d, (i + 1) * d)
    module = {"norm1": layer.norm1, "norm2": layer.norm2, "ff1": layer.linear1,
              "ff2": layer.linear2}.get(parts[1])
    if module is None:
        module = layer.norm3
        assert parts[1] == "norm3", name
    return getattr(module, kind), None


def run(folder, m, dtype, out):
    sv, tv, d, heads, ff, ne, nd, max_len = m["model"]
    B, S, T = m["batch"]
    model = Model(sv, tv, d, heads, ff, ne, nd, max_len).to(dtype)
    model.train()
    names = set()
    with torch.no_grad():
        for name, shape in m["params"]:
            v = np.fromfile(os.path.join(folder, "param", name + ".f32"), dtype="<f4")
            t, rows = slot(model, name)
            target = t if rows is None else t[rows]
            assert list(target.shape) == shape, (name, list(target.shape), shape)
            target.copy_(torch.from_numpy(v.reshape(shape)).to(dtype))
            names.add(name)
    # every torch parameter is one of fp8sim's (none left at torch's init)
    assert len(names) == len(m["params"])
    count = sum(int(np.prod(s)) for _, s in m["params"])
    assert count == sum(p.numel() for p in model.parameters()), (count,)

    def ints(f, n):
        return torch.from_numpy(np.fromfile(os.path.join(folder, f), dtype="<i4")
                                .astype(np.int64).reshape(n))

    src, tgt = ints("src.i32", (B, S)), ints("tgt_in.i32", (B, T))
    targets = ints("targets.i32", (B * T,))
    logits = model(src, tgt).reshape(B * T, tv)
    loss = F.cross_entropy(logits, targets, ignore_index=0, label_smoothing=m["smoothing"])
    loss.backward()
    os.makedirs(os.path.join(out, "grad"), exist_ok=True)
    with open(os.path.join(out, "loss.txt"), "w") as f:
        f.write(repr(loss.item()) + "\n")
    logits.detach().to(torch.float32).numpy().astype("<f4").tofile(os.path.join(out, "logits.f32"))
    for name, _ in m["params"]:
        t, rows = slot(model, name)
        g = t.grad if rows is None else t.grad[rows]
        g.to(torch.float32).numpy().astype("<f4").tofile(os.path.join(out, "grad", name + ".f32"))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_transformer.py DIR")
    folder = sys.argv[1]
    m = read_manifest(folder)
    torch.manual_seed(0)
    run(folder, m, torch.float32, os.path.join(folder, "out32"))
    run(folder, m, torch.float64, os.path.join(folder, "out64"))
    print(f"torch_transformer: ok torch {torch.__version__}")


if __name__ == "__main__":
    main()
