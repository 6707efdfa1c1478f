#!/usr/bin/python3
"""PyTorch CPU peer for benchmarks/onnx-throughput.ts: encode throughput of a MiniLM-L6-shaped
BERT (hidden 384, 6 layers, 12 heads, intermediate 1536, vocab 30522; post-LayerNorm, exact
GELU, mean pooling, L2 normalisation) with random weights, under torch.no_grad, at a fixed
thread count.

The model is written here in plain torch (Linear, matmul + softmax attention, LayerNorm), the
computation Hugging Face's BertModel does in eager mode, so the peer needs only the Debian
packages (python3-torch, and libopenblas0-openmp for a BLAS that is not the reference one):
no transformers, no downloads.

    /usr/bin/python3 benchmarks/peers/torch_encode_throughput.py --threads 1 --batch 32 --seq 128 --reps 5

Prints one JSON line: {"threads", "batch", "seq", "reps", "times_s": [...], "torch": version}.
torch defaults to one thread on this machine's Debian build, so --threads is always set.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

SHAPE = dict(hidden=384, layers=6, heads=12, intermediate=1536, vocab=30522, positions=512)


class Layer(torch.nn.Module):
    def __init__(self, h, heads, inter):
        super().__init__()
        self.heads = heads
        self.q = torch.nn.Linear(h, h)
        self.k = torch.nn.Linear(h, h)
        self.v = torch.nn.Linear(h, h)
        self.o = torch.nn.Linear(h, h)
        self.ln1 = torch.nn.LayerNorm(h, eps=1e-12)
        self.ffn_in = torch.nn.Linear(h, inter)
        self.ffn_out = torch.nn.Linear(inter, h)
        self.ln2 = torch.nn.LayerNorm(h, eps=1e-12)

    def forward(self, x, mask_bias):
        b, t, h = x.shape
        hd = h // self.heads

        def split(y):  # [B, T, H] -> [B, heads, T, hd]
            return y.view(b, t, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + mask_bias  # [B, heads, T, T]
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, t, h)
        x = self.ln1(x + self.o(ctx))
        return self.ln2(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class Bert(torch.nn.Module):
    def __init__(self, s=SHAPE):
        super().__init__()
        h = s["hidden"]
        self.word = torch.nn.Embedding(s["vocab"], h)
        self.pos = torch.nn.Embedding(s["positions"], h)
        self.token_type = torch.nn.Embedding(2, h)
        self.ln = torch.nn.LayerNorm(h, eps=1e-12)
        self.layers = torch.nn.ModuleList(Layer(h, s["heads"], s["intermediate"]) for _ in range(s["layers"]))

    def forward(self, ids, mask):
        t = ids.shape[1]
        x = self.ln(self.word(ids) + self.pos(torch.arange(t)).unsqueeze(0) + self.token_type(torch.zeros_like(ids)))
        mask_bias = (1.0 - mask[:, None, None, :].float()) * -1e9
        for layer in self.layers:
            x = layer(x, mask_bias)
        m = mask.unsqueeze(-1).float()
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True, help="torch.set_num_threads (intra-op)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5, help="timed runs after one warm-up")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Bert().eval()
    g = torch.Generator().manual_seed(12345)
    ids = torch.randint(1, SHAPE["vocab"], (a.batch, a.seq), generator=g)
    mask = torch.ones_like(ids)
    times = []
    with torch.no_grad():
        model(ids, mask)  # warm-up
        for _ in range(a.reps):
            t0 = time.perf_counter()
            model(ids, mask)
            times.append(time.perf_counter() - t0)
    print(json.dumps(dict(threads=torch.get_num_threads(), batch=a.batch, seq=a.seq, reps=a.reps, times_s=times, torch=torch.__version__)))


if __name__ == "__main__":
    main()
