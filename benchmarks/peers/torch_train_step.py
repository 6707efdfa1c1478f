#!/usr/bin/python3
"""PyTorch CPU peer for benchmarks/onnx-train-step.ts: one training step of a MiniLM-L6-shaped
BERT (the plain-torch model of torch_encode_throughput.py: post-LayerNorm, exact GELU, mean
pooling, L2 normalisation; random weights) as sentence-transformers trains a Siamese pair:
two towers (two batches through the same encoder), cosine similarity, MSE against a label
(CosineSimilarityLoss), backward, torch.optim.AdamW step, at a fixed thread count.

    /usr/bin/python3 benchmarks/peers/torch_train_step.py --threads 2 --batch 32 --seq 128 --reps 3

Prints one JSON line: {"threads", "batch", "seq", "reps", "times_s": [...], "torch": version}.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_encode_throughput import SHAPE, Bert  # noqa: E402  (the same model as the encode peer)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True, help="torch.set_num_threads (intra-op)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3, help="timed steps after one warm-up step")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Bert().train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    g = torch.Generator().manual_seed(12345)
    ids_a = torch.randint(1, SHAPE["vocab"], (a.batch, a.seq), generator=g)
    ids_b = torch.randint(1, SHAPE["vocab"], (a.batch, a.seq), generator=g)
    mask = torch.ones_like(ids_a)
    labels = torch.rand(a.batch, generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        cos = F.cosine_similarity(model(ids_a, mask), model(ids_b, mask))
        loss = F.mse_loss(cos, labels)
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up (allocates the optimizer state)
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps(dict(threads=torch.get_num_threads(), batch=a.batch, seq=a.seq, reps=a.reps, times_s=times, torch=torch.__version__)))


if __name__ == "__main__":
    main()
