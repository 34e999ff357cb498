#!/usr/bin/env python3
"""Reference numbers for the train layer's tests (tests/train/).

  adamw --out DIR   torch.optim.AdamW after torch.nn.utils.clip_grad_norm_ on fixed params and per-step gradients,
                    plus transformers' warm-up schedules (the ones BAGEL's trainer uses) sampled at many steps.
                    Writes DIR/adamw.safetensors:
                      param{i}            initial params (fp32), i = 0..2
                      grad{k}_{i}         gradient of param i at step k, k = 0..STEPS-1
                      lr                  [STEPS] learning rate of each step (float64)
                      after{k}_{i}        params after step k
                      norm                [STEPS] total norm returned by clip_grad_norm_ (before clipping)
                      exp_avg_{i}, exp_avg_sq_{i}   optimizer state after the last step
                      sched_const, sched_cos        [len(SCHED_STEPS)] lr of each schedule at SCHED_STEPS (float64)
The hyper-parameters are fixed here and mirrored in tests/train/test_optimizer.cpp.
"""
import argparse
import os

import torch
from safetensors.torch import save_file

SHAPES = [(7, 5), (13,), (2, 3, 4)]
STEPS = 6
BETAS = (0.9, 0.95)
EPS = 1e-15
WEIGHT_DECAY = 0.1
MAX_NORM = 1.0
# Gradient scale per step: some steps are clipped (norm > 1), some are not.
GRAD_SCALE = [0.05, 2.0, 0.1, 5.0, 0.02, 1.0]
LRS = [1e-2, 2e-2, 3e-2, 3e-2, 1e-2, 5e-3]
# Schedules: lr 1e-4, min_lr 1e-7, warm-up 10, total 50 (cosine).
SCHED = dict(lr=1e-4, min_lr=1e-7, warmup=10, total=50)
SCHED_STEPS = list(range(0, 61))


def schedule_values(kind):
    from transformers.optimization import (get_constant_schedule_with_warmup,
                                           get_cosine_with_min_lr_schedule_with_warmup)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=SCHED["lr"])
    if kind == "constant":
        sch = get_constant_schedule_with_warmup(opt, num_warmup_steps=SCHED["warmup"])
    else:
        sch = get_cosine_with_min_lr_schedule_with_warmup(opt, num_warmup_steps=SCHED["warmup"],
                                                          num_training_steps=SCHED["total"], min_lr=SCHED["min_lr"])
    out = []
    for _ in SCHED_STEPS:  # the lr used by the step that follows `step` earlier steps, as in BAGEL's loop
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return torch.tensor(out, dtype=torch.float64)


def cmd_adamw(args):
    g = torch.Generator().manual_seed(7)
    params = [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float32)) for s in SHAPES]
    out = {f"param{i}": p.detach().clone() for i, p in enumerate(params)}
    opt = torch.optim.AdamW(params, lr=LRS[0], betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY, foreach=False)
    norms = []
    for k in range(STEPS):
        for i, p in enumerate(params):
            gr = torch.randn(p.shape, generator=g, dtype=torch.float32) * GRAD_SCALE[k]
            out[f"grad{k}_{i}"] = gr.clone()
            p.grad = gr
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, MAX_NORM)))
        for group in opt.param_groups:
            group["lr"] = LRS[k]
        opt.step()
        opt.zero_grad()
        for i, p in enumerate(params):
            out[f"after{k}_{i}"] = p.detach().clone()
    for i, p in enumerate(params):
        st = opt.state[p]
        out[f"exp_avg_{i}"] = st["exp_avg"].clone()
        out[f"exp_avg_sq_{i}"] = st["exp_avg_sq"].clone()
    out["lr"] = torch.tensor(LRS, dtype=torch.float64)
    out["norm"] = torch.tensor(norms, dtype=torch.float64)
    out["sched_const"] = schedule_values("constant")
    out["sched_cos"] = schedule_values("cosine")
    os.makedirs(args.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(args.out, "adamw.safetensors"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("adamw")
    a.add_argument("--out", required=True)
    args = ap.parse_args()
    {"adamw": cmd_adamw}[args.cmd](args)


if __name__ == "__main__":
    main()
