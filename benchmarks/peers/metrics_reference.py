#!/usr/bin/env python3
"""Reference values for src/evaluation/metrics.ts, on fixed vectors.

Run:  python3 benchmarks/peers/metrics_reference.py > test/fixtures/metrics/reference.json
Needs numpy and scipy only (no scikit-learn on the CI machines), so:

* pearson / spearman: scipy.stats.pearsonr and scipy.stats.spearmanr (ties get average ranks).
* average precision: the definition of sklearn.metrics.average_precision_score,
  AP = sum_n (R_n - R_{n-1}) P_n over distinct score thresholds (descending, ties enter
  together, no interpolation), written out in numpy.
* nDCG: the definition of sklearn.metrics.ndcg_score for one sample with ignore_ties=False:
  linear gains, discount 1/log2(rank+1) cut at k, tied scores share the mean gain of their
  group over the discounts of the positions they span; normalised by the DCG of the ideal
  order; 0 when nothing is relevant.
* reciprocal rank: 1/rank of the first relevant item (vectors have no ties among scores).

Every case stores its inputs, so the TypeScript test reads both from the JSON.
"""
import json
import sys

import numpy as np
from scipy.stats import pearsonr, rankdata, spearmanr


def average_precision(y_true, y_score):
    y_true = np.asarray(y_true, dtype=float)
    y_score = np.asarray(y_score, dtype=float)
    order = np.argsort(-y_score, kind="mergesort")
    y_true, y_score = y_true[order], y_score[order]
    # last index of each distinct score value
    distinct = np.where(np.diff(y_score))[0]
    ends = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true)[ends]
    seen = ends + 1
    precision = tps / seen
    recall = tps / y_true.sum()
    prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev) * precision))


def tie_averaged_dcg(y_true, y_score, k):
    y_true = np.asarray(y_true, dtype=float)
    y_score = np.asarray(y_score, dtype=float)
    discount = 1.0 / np.log2(np.arange(y_true.size) + 2)
    discount[k:] = 0.0
    values, inverse, counts = np.unique(-y_score, return_inverse=True, return_counts=True)
    group_gain = np.zeros(values.size)
    np.add.at(group_gain, inverse, y_true)
    group_gain /= counts
    ends = np.cumsum(counts)
    starts = ends - counts
    disc_cum = np.r_[0.0, np.cumsum(discount)]
    discount_sums = disc_cum[ends] - disc_cum[starts]
    return float(np.sum(group_gain * discount_sums))


def ndcg(y_true, y_score, k=None):
    k = len(y_true) if k is None else k
    ideal = tie_averaged_dcg(y_true, y_true, k)
    return 0.0 if ideal == 0 else tie_averaged_dcg(y_true, y_score, k) / ideal


def reciprocal_rank(relevant, scores, k=None):
    k = len(relevant) if k is None else k
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")[:k]
    for r, i in enumerate(order):
        if relevant[i]:
            return 1.0 / (r + 1)
    return 0.0


def main():
    rng = np.random.default_rng(20261123)
    cases = {"correlation": [], "average_precision": [], "ndcg": [], "reciprocal_rank": []}

    # correlations: continuous, heavy ties (STS-like 0-5 gold in 0.2 steps), negative relation
    x1 = rng.normal(size=50)
    y1 = 0.6 * x1 + rng.normal(size=50)
    gold = np.round(rng.uniform(0, 5, size=200) * 5) / 5
    pred = gold / 5 + rng.normal(scale=0.3, size=200)
    x3 = rng.integers(0, 4, size=30).astype(float)
    y3 = -x3 + rng.integers(0, 3, size=30)
    for name, x, y in [("continuous", x1, y1), ("sts_like_ties", gold, pred), ("both_tied_negative", x3, y3),
                       ("tiny", np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]))]:
        cases["correlation"].append({
            "name": name, "x": x.tolist(), "y": y.tolist(),
            "pearson": float(pearsonr(x, y)[0]), "spearman": float(spearmanr(x, y)[0]),
            "ranks_x": rankdata(x, method="average").tolist(),
        })

    # average precision: continuous scores, tied scores, one positive
    lab = (rng.uniform(size=40) < 0.4).astype(float)
    sc = lab * 0.5 + rng.uniform(size=40)
    lab2 = (rng.uniform(size=30) < 0.5).astype(float)
    sc2 = np.round(rng.uniform(size=30) * 4) / 4
    for name, y, s in [("continuous", lab, sc), ("tied_scores", lab2, sc2),
                       ("one_positive", np.array([0.0, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))]:
        cases["average_precision"].append({"name": name, "labels": y.tolist(), "scores": s.tolist(),
                                           "ap": average_precision(y, s)})

    # nDCG: graded relevance, tied scores, cut at k
    rel = rng.integers(0, 4, size=20).astype(float)
    s1 = rel + rng.normal(scale=1.5, size=20)
    s2 = np.round(rng.uniform(size=20) * 3)
    for name, y, s, k in [("graded", rel, s1, None), ("graded_k5", rel, s1, 5), ("tied_scores", rel, s2, None),
                          ("tied_scores_k7", rel, s2, 7), ("nothing_relevant", np.zeros(5), np.arange(5.0), None)]:
        cases["ndcg"].append({"name": name, "relevance": y.tolist(), "scores": s.tolist(), "k": k,
                              "ndcg": ndcg(y, s, k)})

    # reciprocal rank: binary relevance, distinct scores
    for name, k in [("full", None), ("k3", 3)]:
        relv = np.zeros(12)
        relv[[4, 9]] = 1
        s = rng.permutation(12).astype(float) + 0.5
        cases["reciprocal_rank"].append({"name": name, "relevant": relv.tolist(), "scores": s.tolist(), "k": k,
                                         "rr": reciprocal_rank(relv, s, k)})

    json.dump({"generator": "benchmarks/peers/metrics_reference.py",
               "scipy": __import__("scipy").__version__, "numpy": np.__version__, "cases": cases},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
