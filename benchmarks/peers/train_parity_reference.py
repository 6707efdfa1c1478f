#!/usr/bin/env python3
"""Training-parity reference: a few fully specified optimisation steps of a sentence-transformers
model with CosineSimilarityLoss on STS Benchmark, recorded so sbert-train's training loop can be
checked step by step against PyTorch (test/parity.test.ts).

Setup (everything that could differ between two implementations is pinned):
  data       the first --rows rows of sts-train.csv in file order (tab-separated, no quoting,
             columns 5 and 6 are the sentences, column 4 the 0-5 score), no shuffling
  labels     score / 5
  loss       CosineSimilarityLoss: mean((cos(u, v) - label)^2), as
             sentence_transformers/losses/CosineSimilarityLoss.py
  optimizer  torch.optim.AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay) on every
             parameter (no bias / LayerNorm exclusion), constant learning rate (no warmup, no
             schedule), no gradient clipping, single-tensor implementation (foreach=False)
  dropout    none: the model runs in eval mode while training (gradients still flow)
  batches    --batch-size rows, tokenised by the model's own tokenizer as
             SentenceTransformer.tokenize does (strip, pad to the longest, truncate to
             max_seq_length); the token ids are recorded so the check does not depend on
             tokenizer parity

Records per step the loss (before that step's update), and the embeddings of a few probe
sentences before and after training.

Usage:
  python benchmarks/peers/train_parity_reference.py --model test/fixtures/parity/bert-mean \
      --stsb ../shared/datasets/stsb/sts-train.csv --out test/fixtures/parity/train-bert-mean.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
import sentence_transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

PROBES = ["A man is playing a guitar.", "A woman is slicing an onion.", "The cat sits on the mat.", ""]


def read_stsb(path: str, rows: int) -> list[tuple[str, str, float]]:
    """STS Benchmark rows in file order; quotes are literal text (no csv quoting)."""
    out: list[tuple[str, str, float]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 7:
                raise SystemExit(f"{path}: expected at least 7 tab-separated columns, got {len(cols)}: {line[:80]!r}")
            out.append((cols[5], cols[6], float(cols[4])))
            if len(out) == rows:
                break
    if len(out) < rows:
        raise SystemExit(f"{path}: only {len(out)} rows, need {rows}")
    return out


def tokenize(st: SentenceTransformer, texts: list[str]) -> dict:
    if hasattr(st, "tokenize"):
        return st.tokenize(texts)
    return st.tokenizer([t.strip() for t in texts], padding=True, truncation="longest_first", max_length=st.max_seq_length, return_tensors="pt")


def unpadded(enc: dict) -> list[list[int]]:
    return [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())]


def embed(st: SentenceTransformer, enc: dict) -> torch.Tensor:
    return st({k: v for k, v in enc.items()})["sentence_embedding"]


def rounded(x) -> list:
    def r(v):
        return [r(e) for e in v] if isinstance(v, list) else float(f"{v:.9g}")

    return r(x.detach().to(torch.float32).cpu().tolist() if isinstance(x, torch.Tensor) else x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="sentence-transformers folder (e.g. test/fixtures/parity/bert-mean)")
    ap.add_argument("--stsb", default="../shared/datasets/stsb/sts-train.csv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    st = SentenceTransformer(args.model, device="cpu")
    st.eval()  # no dropout; autograd still works
    rows = read_stsb(args.stsb, args.rows)
    steps = len(rows) // args.batch_size

    with torch.no_grad():
        probe_enc = tokenize(st, PROBES)
        before = embed(st, probe_enc)

    params = [p for p in st.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay, foreach=False)
    st_loss = None
    try:
        from sentence_transformers.losses import CosineSimilarityLoss

        st_loss = CosineSimilarityLoss(st)
    except Exception as e:  # noqa: BLE001
        print(f"CosineSimilarityLoss unavailable ({e!r}); using the formula only", file=sys.stderr)

    batches = []
    losses = []
    for step in range(steps):
        chunk = rows[step * args.batch_size : (step + 1) * args.batch_size]
        enc1 = tokenize(st, [r[0] for r in chunk])
        enc2 = tokenize(st, [r[1] for r in chunk])
        labels = torch.tensor([r[2] / 5.0 for r in chunk], dtype=torch.float32)
        u, v = embed(st, enc1), embed(st, enc2)
        loss = torch.mean((torch.cosine_similarity(u, v) - labels) ** 2)
        if st_loss is not None and step == 0:
            # The library's loss on the same batch must give the same number.
            ref = st_loss([{k: t for k, t in enc1.items()}, {k: t for k, t in enc2.items()}], labels).item()
            if abs(ref - loss.item()) > 1e-6:
                raise SystemExit(f"CosineSimilarityLoss {ref} != formula {loss.item()}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        batches.append({"input_ids_1": unpadded(enc1), "input_ids_2": unpadded(enc2), "labels": [round(float(x), 9) for x in labels.tolist()]})
        print(f"step {step + 1}/{steps}: loss {loss.item():.6f}")

    with torch.no_grad():
        after = embed(st, probe_enc)

    record = {
        "format": 1,
        "model": Path(args.model).name,
        "data": {"file": Path(args.stsb).name, "rows": args.rows, "order": "file order, no shuffle", "label": "score / 5"},
        "hyperparameters": {
            "batch_size": args.batch_size,
            "steps": steps,
            "optimizer": "adamw",
            "lr": args.lr,
            "betas": [0.9, 0.999],
            "eps": 1e-8,
            "weight_decay": args.weight_decay,
            "weight_decay_on": "all parameters",
            "schedule": "constant",
            "warmup_steps": 0,
            "max_grad_norm": None,
            "dropout": 0,
            "loss": "cosine_mse (CosineSimilarityLoss)",
        },
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "max_seq_length": st.max_seq_length,
        "batches": batches,
        "losses": [float(f"{x:.9g}") for x in losses],
        "probe_texts": PROBES,
        "probe_input_ids": unpadded(probe_enc),
        "embeddings_before": rounded(before),
        "embeddings_after": rounded(after),
    }
    Path(args.out).write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {steps} steps, final loss {losses[-1]:.6f}")


if __name__ == "__main__":
    main()
