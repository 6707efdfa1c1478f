#!/usr/bin/env python3
"""Reference numbers for `sbert-train eval` from Python sentence-transformers.

Two modes; each writes a JSON fixture that test/evaluation-sts.test.ts compares against.

1. model (needs sentence-transformers, torch): run EmbeddingSimilarityEvaluator on STSb test
   with a model folder, exactly as a model card would report it. Use a committed parity
   fixture (test/fixtures/parity/<name>, see README.md here) so both sides load the same
   folder; on the device machine, with sts-test.csv copied into .peer-data/:

     python3 benchmarks/peers/st_eval_reference.py model --model test/fixtures/parity/bert-mean \
       --sts .peer-data/sts-test.csv --out test/fixtures/metrics/st_eval_stsb_test.json

   `--spec` (default: --model) is how the TypeScript test finds the same model: a folder
   relative to the project root, or `builtin:tiny` with `--seed` for a folder that sbert-train
   saved from its built-in model.

2. embeddings (numpy + scipy only): ST's scoring path on fixed random float32 embeddings,
   so the similarity and correlation code can be checked without a model:

     python3 benchmarks/peers/st_eval_reference.py embeddings --out test/fixtures/metrics/st_scores_reference.json

   The pairwise functions follow sentence_transformers.util (float32 throughout):
   pairwise_cos_sim = dot of torch.nn.functional.normalize(x, p=2, dim=1, eps=1e-12) rows;
   pairwise_euclidean_sim = -sqrt(sum((a-b)^2)); pairwise_manhattan_sim = -sum(|a-b|);
   pairwise_dot_score = sum(a*b). Uses torch when installed, else numpy float32.
   Correlations: scipy.stats.pearsonr / spearmanr, as EmbeddingSimilarityEvaluator.
"""
import argparse
import base64
import json
import sys

import numpy as np
from scipy.stats import pearsonr, spearmanr

FNS = ["cosine", "euclidean", "manhattan", "dot"]


def read_stsb(path):
    """STS Benchmark: tab-separated, no header, no quoting; score is column 4, texts 5 and 6."""
    s1, s2, gold = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            gold.append(float(cols[4]))
            s1.append(cols[5])
            s2.append(cols[6])
    return s1, s2, gold


def run_model(args):
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator, SimilarityFunction

    model = SentenceTransformer(args.model, device="cpu")
    s1, s2, gold = read_stsb(args.sts)
    ev = EmbeddingSimilarityEvaluator(
        s1, s2, gold, name=args.name, batch_size=args.batch_size, main_similarity=SimilarityFunction.COSINE,
        similarity_fn_names=FNS, write_csv=False,
    )
    metrics = ev(model)
    out = {
        "generator": "benchmarks/peers/st_eval_reference.py model",
        "sentence_transformers": sentence_transformers.__version__,
        "model": args.spec or args.model,
        "seed": args.seed,
        "sts": args.sts.split("/")[-1],
        "name": args.name,
        "pairs": len(gold),
        "primary_metric": ev.primary_metric if ev.primary_metric.startswith(args.name) else f"{args.name}_{ev.primary_metric}",
        "metrics": {k: float(v) for k, v in metrics.items()},
    }
    write(out, args.out)


def pairwise(fn, a, b):
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        if fn == "cosine":
            na = torch.nn.functional.normalize(ta, p=2, dim=1)
            nb = torch.nn.functional.normalize(tb, p=2, dim=1)
            r = (na * nb).sum(dim=-1)
        elif fn == "euclidean":
            r = -torch.sqrt(torch.sum((ta - tb) ** 2, dim=-1))
        elif fn == "manhattan":
            r = -torch.sum(torch.abs(ta - tb), dim=-1)
        else:
            r = (ta * tb).sum(dim=-1)
        return r.numpy()
    except ImportError:
        pass
    if fn == "cosine":
        na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.float32(1e-12))
        nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), np.float32(1e-12))
        return np.sum(na * nb, axis=-1, dtype=np.float32)
    if fn == "euclidean":
        return -np.sqrt(np.sum((a - b) ** 2, axis=-1, dtype=np.float32))
    if fn == "manhattan":
        return -np.sum(np.abs(a - b), axis=-1, dtype=np.float32)
    return np.sum(a * b, axis=-1, dtype=np.float32)


def run_embeddings(args):
    rng = np.random.default_rng(7)
    n, d = 240, 24
    # correlated sides so the correlations are far from 0; gold in STSb's 0.2 steps (many ties)
    e1 = rng.normal(size=(n, d)).astype(np.float32)
    e2 = (0.7 * e1 + 0.7 * rng.normal(size=(n, d))).astype(np.float32)
    base = np.sum(e1 * e2, axis=1) / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))
    gold = np.clip(np.round((base + 1) * 2.5 * 5 + rng.normal(scale=2, size=n)) / 5, 0, 5)
    metrics = {}
    for fn in FNS:
        s = pairwise(fn, e1, e2)
        assert s.dtype == np.float32
        metrics[f"pearson_{fn}"] = float(pearsonr(gold, s)[0])
        metrics[f"spearman_{fn}"] = float(spearmanr(gold, s)[0])
    out = {
        "generator": "benchmarks/peers/st_eval_reference.py embeddings",
        "n": n,
        "dim": d,
        "gold": gold.tolist(),
        "emb1_f32le_base64": base64.b64encode(e1.astype("<f4").tobytes()).decode(),
        "emb2_f32le_base64": base64.b64encode(e2.astype("<f4").tobytes()).decode(),
        "metrics": metrics,
    }
    write(out, args.out)


def write(obj, path):
    text = json.dumps(obj, indent=1) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("model")
    m.add_argument("--model", required=True, help="sentence-transformers model folder")
    m.add_argument("--spec", help="how sbert-train loads the same model (default: --model; or builtin:tiny)")
    m.add_argument("--seed", type=int, default=42)
    m.add_argument("--sts", default="../shared/datasets/stsb/sts-test.csv")
    m.add_argument("--name", default="stsb-test")
    m.add_argument("--batch-size", type=int, default=32)
    m.add_argument("--out", default="test/fixtures/metrics/st_eval_stsb_test.json")
    e = sub.add_parser("embeddings")
    e.add_argument("--out", default="test/fixtures/metrics/st_scores_reference.json")
    args = p.parse_args()
    run_model(args) if args.mode == "model" else run_embeddings(args)


if __name__ == "__main__":
    main()
