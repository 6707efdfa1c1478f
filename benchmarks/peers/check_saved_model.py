#!/usr/bin/env python3
"""Check that model folders written by sbert-train load in Python sentence-transformers and give
the embeddings sbert-train computed (max abs difference <= --tol, default 1e-5).

Input: a folder made by benchmarks/peers/export_saved_models.ts, holding for each model NAME a
sentence-transformers folder NAME/ and NAME.json:
  {"model": NAME, "source": ..., "texts": [...], "input_ids": [[...]], "embeddings": [[...]]}
Token ids are compared too (exactly), so a tokenizer mismatch is told apart from a weight or
layer mismatch.

Usage:
  python benchmarks/peers/check_saved_model.py /tmp/sbert-export [--tol 1e-5]
Exit status 1 when any model fails.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def tokenize(st: SentenceTransformer, texts: list[str]) -> dict:
    if hasattr(st, "tokenize"):
        return st.tokenize(texts)
    return st.tokenizer([t.strip() for t in texts], padding=True, truncation="longest_first", max_length=st.max_seq_length, return_tensors="pt")


def check(folder: Path, expected_file: Path, tol: float) -> bool:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    name = expected_file.stem
    try:
        st = SentenceTransformer(str(folder), device="cpu")
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {name}: SentenceTransformer({folder}) raised {e!r}")
        return False
    st.eval()
    texts = expected["texts"]
    ok = True
    if "input_ids" in expected:
        enc = tokenize(st, texts)
        ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())]
        for text, got, want in zip(texts, ids, expected["input_ids"]):
            if got != want:
                print(f"FAIL {name}: token ids differ for {text!r}:\n  python {got}\n  ours   {want}")
                ok = False
    with torch.no_grad():
        emb = st.encode(texts, batch_size=len(texts), convert_to_numpy=True).astype(np.float64)
    want = np.asarray(expected["embeddings"], dtype=np.float64)
    if emb.shape != want.shape:
        print(f"FAIL {name}: embedding shape {emb.shape}, ours {want.shape}")
        return False
    diff = float(np.abs(emb - want).max()) if emb.size else 0.0
    worst = int(np.abs(emb - want).max(axis=1).argmax()) if emb.size else 0
    status = "ok  " if diff <= tol and ok else "FAIL"
    print(f"{status} {name}: max abs diff {diff:.3g} (tol {tol:g}; worst text {texts[worst]!r}), dim {emb.shape[1]}, modules {[type(m).__name__ for m in st]}")
    return ok and diff <= tol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="output of export_saved_models.ts")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    root = Path(args.folder)
    files = sorted(root.glob("*.json"))
    if not files:
        raise SystemExit(f"{root}: no NAME.json files (run benchmarks/peers/export_saved_models.ts first)")
    results = [check(root / f.stem, f, args.tol) for f in files]
    print(f"{sum(results)}/{len(results)} models match")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
