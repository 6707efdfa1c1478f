#!/usr/bin/python3
"""GEMM ceiling for benchmarks/onnx-throughput.ts: an N x N x N float32 matmul in numpy.

The thread count comes from OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, which OpenBLAS reads when
numpy loads it (the caller sets them). Prints one JSON line:
{"n", "reps", "times_s": [...], "numpy": version, "blas": the BLAS numpy was built against}.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 benchmarks/peers/numpy_matmul.py --n 2048 --reps 5
"""
import argparse
import json
import time

import numpy as np


def blas_name():
    """The BLAS library actually loaded (Debian's numpy links libblas.so.3, an alternative)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line and "lapack" not in line and "/" in line}
        return ", ".join(sorted(p.replace("/usr/lib/x86_64-linux-gnu/", "") for p in paths)) or "unknown BLAS"
    except OSError:
        return "unknown BLAS"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((a.n, a.n), dtype=np.float32)
    y = rng.standard_normal((a.n, a.n), dtype=np.float32)
    x @ y  # warm-up
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        x @ y
        times.append(time.perf_counter() - t0)
    print(json.dumps(dict(n=a.n, reps=a.reps, times_s=times, numpy=np.__version__, blas=blas_name())))


if __name__ == "__main__":
    main()
