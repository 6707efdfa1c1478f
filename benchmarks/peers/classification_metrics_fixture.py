#!/usr/bin/python3
"""Write test/fixtures/classification-metrics.json: scikit-learn's classification metrics for fixed
labels and predictions, which test/classification.test.ts compares with
src/evaluation/classification-metrics.ts (and the classifier head's weighted cross-entropy).

Cases:
  multiclass    5 classes; class 3 is never predicted (precision 0 by zero_division=0) and
                class 4 never occurs (recall 0), with labels=[0..4] given as sbert-train does
  binary        2 classes, all metrics
  weights       compute_class_weight('balanced') of an imbalanced label list, and the weighted
                cross-entropy (log_loss with sample_weight = class weight of the true class)
                of fixed logits, as torch CrossEntropyLoss(weight=...) with mean reduction
  logistic      LogisticRegression(C=0.5, multinomial, lbfgs) fitted on fixed 5-d points of 3
                classes, with and without class_weight='balanced': its predict_proba on the
                points, which the logistic head (src/training/classification.ts fitLogistic)
                must reproduce (the same convex objective)

Usage:  /usr/bin/python3 benchmarks/peers/classification_metrics_fixture.py [OUT.json]
Needs:  Debian python3-sklearn (apt-get install -y python3-sklearn)
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, confusion_matrix, log_loss,
                             precision_recall_fscore_support)
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight


def metrics(y_true, y_pred, k):
    labels = list(range(k))
    out = {
        "accuracy": accuracy_score(y_true, y_pred),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    for avg in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(p), float(r), float(f)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out["per_class"] = [
        {"precision": float(a), "recall": float(b), "f1": float(c), "support": int(d)} for a, b, c, d in zip(p, r, f, s)
    ]
    return out


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/classification-metrics.json"
    rng = np.random.default_rng(7)
    k = 5
    y_true = rng.integers(0, 4, size=40).tolist()  # class 4 never occurs
    y_pred = [t if t != 3 and rng.random() < 0.6 else int(rng.choice([0, 1, 2, 4])) for t in y_true]  # 3 never predicted, 4 predicted but never true
    yb_true = rng.integers(0, 2, size=25).tolist()
    yb_pred = [t if rng.random() < 0.7 else 1 - t for t in yb_true]

    w_labels = [0] * 12 + [1] * 5 + [2] * 3
    weights = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=np.array(w_labels))
    logits = rng.normal(size=(len(w_labels), 3)).round(3)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    sample_w = weights[np.array(w_labels)]
    X = rng.normal(size=(36, 5)).round(3)
    yl = np.array([0] * 18 + [1] * 12 + [2] * 6)
    X[yl == 1, 0] += 1.5
    X[yl == 2, 1] += 1.5
    logistic = {"x": X.tolist(), "y": yl.tolist(), "c": 0.5}
    for name, cw in (("plain", None), ("balanced", "balanced")):
        lr = LogisticRegression(C=0.5, class_weight=cw, multi_class="multinomial", solver="lbfgs", tol=1e-12, max_iter=10000).fit(X, yl)
        logistic[name] = {"proba": lr.predict_proba(X).tolist(), "coef": lr.coef_.tolist(), "intercept": lr.intercept_.tolist()}
    fixture = {
        "generator": f"benchmarks/peers/classification_metrics_fixture.py, scikit-learn {sklearn.__version__}",
        "multiclass": {"num_classes": k, "y_true": y_true, "y_pred": y_pred, "expected": metrics(y_true, y_pred, k)},
        "binary": {"num_classes": 2, "y_true": yb_true, "y_pred": yb_pred, "expected": metrics(yb_true, yb_pred, 2)},
        "weights": {
            "labels": w_labels,
            "balanced": weights.tolist(),
            "logits": logits.tolist(),
            "weighted_cross_entropy": float(log_loss(w_labels, probs, sample_weight=sample_w, labels=[0, 1, 2])),
            "cross_entropy": float(log_loss(w_labels, probs, labels=[0, 1, 2])),
        },
        "logistic": logistic,
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
