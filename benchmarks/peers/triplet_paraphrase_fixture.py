#!/usr/bin/env python3
"""Reference values for the triplet and paraphrase-mining evaluators, on fixed embeddings.

Run:  /usr/bin/python3 benchmarks/peers/triplet_paraphrase_fixture.py > test/fixtures/metrics/triplet_paraphrase.json
Needs numpy, scipy and scikit-learn (Debian: python3-numpy python3-scipy python3-sklearn).
Read by test/evaluators-triplet-paraphrase.test.ts, which runs our pure metric functions on the
same embeddings (stored in the JSON, float32 values) and compares.

Computed independently of src/evaluation (and of sentence-transformers' code), from the
definitions the evaluators document:

* triplet accuracy per similarity: the fraction of triplets with sim(a, p) > sim(a, n), where
  cosine = 1 - scipy cosine distance, dot = numpy dot, euclidean / manhattan = minus the scipy
  euclidean / cityblock distance (so higher is always more similar).
* paraphrase mining, case "all pairs" (top_k >= n - 1, so every pair is mined): average precision
  is then sklearn.metrics.average_precision_score over all pairs (scores have no ties); the best
  F1, its precision and recall come from sklearn.metrics.precision_recall_curve; the threshold
  is the midpoint between the score at the best cut and the next lower score.
* paraphrase mining, case "top_k 2": brute-force cosine matrix (sklearn cosine_similarity),
  each sentence's 2 best neighbours by numpy argsort, unordered pairs once, ranked by score;
  AP = sum of precision at each gold hit / number of gold pairs (gold pairs never mined add 0),
  best F1 over the cuts at gold hits, as ParaphraseMiningEvaluator defines them.
"""
import json
import sys

import numpy as np
from scipy.spatial import distance
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.metrics.pairwise import cosine_similarity


def f32_rows(a):
    return np.asarray(a, dtype=np.float32)


def triplet_case(rng):
    n, d = 30, 8
    anchors = rng.normal(size=(n, d))
    # positives near the anchor with noise of varying size; negatives partly close, partly random
    positives = anchors + rng.normal(size=(n, d)) * rng.uniform(0.3, 1.5, size=(n, 1))
    negatives = np.where(rng.uniform(size=(n, 1)) < 0.4, anchors + rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 2)
    a, p, ng = f32_rows(anchors), f32_rows(positives), f32_rows(negatives)
    A, P, N = a.astype(np.float64), p.astype(np.float64), ng.astype(np.float64)
    sims = {
        "cosine": lambda x, y: 1 - distance.cosine(x, y),
        "dot": lambda x, y: float(np.dot(x, y)),
        "euclidean": lambda x, y: -distance.euclidean(x, y),
        "manhattan": lambda x, y: -distance.cityblock(x, y),
    }
    expected = {}
    for name, fn in sims.items():
        pos = np.array([fn(A[i], P[i]) for i in range(n)])
        neg = np.array([fn(A[i], N[i]) for i in range(n)])
        expected[f"{name}_accuracy"] = float(np.mean(pos > neg))
        # a margin shifts the rule to pos - neg > margin; keep the closest gap for the record
        expected[f"{name}_min_gap"] = float(np.min(np.abs(pos - neg)))
    expected["max_accuracy"] = max(expected[f"{k}_accuracy"] for k in sims)
    return {"anchors": a.tolist(), "positives": p.tolist(), "negatives": ng.tolist(), "expected": expected}


def paraphrase_embeddings(rng):
    """40 sentences: 12 duplicate pairs (two noisy copies of a centre, noise varying) + 16 singletons."""
    d = 12
    rows, gold = [], []
    for _ in range(12):
        c = rng.normal(size=d)
        noise = rng.uniform(0.2, 1.0)
        rows.append(c + rng.normal(size=d) * noise)
        rows.append(c + rng.normal(size=d) * noise)
        gold.append([len(rows) - 2, len(rows) - 1])
    for _ in range(16):
        rows.append(rng.normal(size=d))
    order = rng.permutation(len(rows))  # shuffle so pairs are not neighbours by index
    where = {int(old): new for new, old in enumerate(order)}
    emb = f32_rows(np.asarray(rows)[order])
    gold = [sorted([where[i], where[j]]) for i, j in gold]
    return emb, gold


def all_pairs_case(emb, gold):
    n = len(emb)
    sim = cosine_similarity(emb.astype(np.float64))
    iu, ju = np.triu_indices(n, k=1)
    scores = sim[iu, ju]
    gold_set = {tuple(g) for g in gold}
    labels = np.array([1 if (i, j) in gold_set else 0 for i, j in zip(iu, ju)])
    ap = average_precision_score(labels, scores)
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    k = int(np.argmax(f1[:-1]))  # the last point (recall 0) has no threshold
    cut = thresholds[k]  # positive iff score >= cut
    below = np.sort(scores[scores < cut])[::-1]
    threshold = (cut + below[0]) / 2 if below.size else cut
    return {"top_k": n - 1, "expected": {"average_precision": float(ap), "f1": float(f1[k]), "precision": float(precision[k]), "recall": float(recall[k]), "threshold": float(threshold)}}


def top_k_case(emb, gold, top_k):
    n = len(emb)
    sim = cosine_similarity(emb.astype(np.float64))
    np.fill_diagonal(sim, -np.inf)
    mined = {}
    for i in range(n):
        for j in np.argsort(-sim[i], kind="stable")[:top_k]:
            key = (min(i, int(j)), max(i, int(j)))
            mined[key] = sim[i, j]
    ranked = sorted(mined.items(), key=lambda kv: -kv[1])
    gold_set = {tuple(g) for g in gold}
    hits = np.array([1 if key in gold_set else 0 for key, _ in ranked])
    scores = np.array([s for _, s in ranked])
    ranks = np.arange(1, len(ranked) + 1)
    prec_at = np.cumsum(hits) / ranks
    rec_at = np.cumsum(hits) / len(gold_set)
    ap = float(np.sum(prec_at[hits == 1]) / len(gold_set))
    f1_at = np.where(hits == 1, 2 * prec_at * rec_at / (prec_at + rec_at), 0)
    k = int(np.argmax(f1_at))
    nxt = scores[min(k + 1, len(scores) - 1)]
    return {"top_k": top_k, "mined_pairs": len(ranked), "expected": {"average_precision": ap, "f1": float(f1_at[k]), "precision": float(prec_at[k]), "recall": float(rec_at[k]), "threshold": float((scores[k] + nxt) / 2)}}


def main():
    rng = np.random.default_rng(20261130)
    triplets = triplet_case(rng)
    emb, gold = paraphrase_embeddings(rng)
    out = {
        "about": "made by benchmarks/peers/triplet_paraphrase_fixture.py (numpy %s, scipy, scikit-learn)" % np.__version__,
        "triplet": triplets,
        "paraphrase": {
            "embeddings": emb.tolist(),
            "gold": gold,
            "cases": [all_pairs_case(emb, gold), top_k_case(emb, gold, 2)],
        },
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
