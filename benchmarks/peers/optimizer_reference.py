#!/usr/bin/env python3
"""Reference trajectories of torch.optim.AdamW / torch.optim.Adam and
torch.nn.utils.clip_grad_norm_, for src/training/optimizer.ts and src/training/clip.ts.

Run:  python3 benchmarks/peers/optimizer_reference.py > test/fixtures/optim/torch_optim.json
Needs torch only (any 1.13+; Debian's python3-torch works, as does the device machine's).

Two float32 parameters (a [4, 3] matrix and a [3] vector) take 24 steps of seeded random
gradients whose size swings from 0.05x to 8x, so global-norm clipping at 1.0 is active on
some steps and idle on others. Each case records the parameters after every step; the
initial parameters and every gradient are stored too, so the TypeScript test replays exactly
these steps. The learning rate changes every step (a warmup then a decay, as a scheduler
would set it) to check that the bias correction uses the step count, not the lr history.
"""
import json
import sys

import torch

STEPS = 24
SHAPES = {"w": (4, 3), "b": (3,)}
CASES = [
    # name, optimizer class, kwargs, clip max norm (None: no clipping)
    ("adamw", "AdamW", dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), None),
    ("adamw_clip", "AdamW", dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), 1.0),
    ("adam_l2", "Adam", dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), None),
    ("adamw_betas", "AdamW", dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), 0.5),
]


def lr_at(step: int) -> float:
    """0.05 at the peak; 4 warmup steps, then linear decay to 0.005."""
    if step < 4:
        return 0.05 * (step + 1) / 4
    return 0.05 - 0.045 * (step - 4) / (STEPS - 5)


def main() -> None:
    g = torch.Generator().manual_seed(1234)
    init = {k: torch.randn(s, generator=g, dtype=torch.float32) for k, s in SHAPES.items()}
    grads = []
    for step in range(STEPS):
        size = 0.05 * (160 ** ((step % 6) / 5))  # 0.05 .. 8
        grads.append({k: size * torch.randn(s, generator=g, dtype=torch.float32) for k, s in SHAPES.items()})

    cases = []
    for name, cls, kwargs, clip in CASES:
        params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        # foreach=False: the single-tensor loop, the update written out in torch/optim/adamw.py.
        opt = getattr(torch.optim, cls)(list(params.values()), lr=lr_at(0), foreach=False, **kwargs)
        trajectory, norms = [], []
        for step in range(STEPS):
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            for k, p in params.items():
                p.grad = grads[step][k].clone()
            if clip is not None:
                norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), clip)))
            opt.step()
            trajectory.append({k: p.detach().reshape(-1).tolist() for k, p in params.items()})
        cases.append(
            {
                "name": name,
                "optimizer": cls,
                "decoupled": cls == "AdamW",
                "betas": list(kwargs["betas"]),
                "eps": kwargs["eps"],
                "weight_decay": kwargs["weight_decay"],
                "clip_max_norm": clip,
                "grad_norms": norms,
                "params": trajectory,
            }
        )

    json.dump(
        {
            "torch": torch.__version__,
            "shapes": {k: list(s) for k, s in SHAPES.items()},
            "lr": [lr_at(s) for s in range(STEPS)],
            "init": {k: v.reshape(-1).tolist() for k, v in init.items()},
            "grads": [{k: v.reshape(-1).tolist() for k, v in gs.items()} for gs in grads],
            "cases": cases,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
