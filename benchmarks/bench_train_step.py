"""Cost of one training step of the default cross-encoder under ``train.dropout`` settings, as ratios in one process.

    python benchmarks/bench_train_step.py [--dropouts null,null:fast,0] [--rows 4] [--pairs-per-row 5] [--length 128] [--reps 6]

A variant is a ``train.dropout`` value (null: the checkpoint's), with ``:fast`` for ``train.fast_dropout=true``.

A step is what the trainer does per batch with the defaults: the gated segment_cosine body on
``rows`` x ``pairs-per-row`` (query, passage) pairs at ``length`` tokens (train.batch_size 4 x a
positive and miner.num_negatives 4), the softmax loss over each row, backward, and the fused
AdamW update transformers picks on torch >= 2.8. The variants take turns every repetition so
machine noise hits them alike; prints median ms per step and each variant over the first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from rerankft.modeling.dropout import set_dropout
from rerankft.modeling.fast_dropout import fast_dropout
from rerankft.modeling.heads import build_segment_cosine_cross_encoder
from rerankft.modeling.names import resolve_model_name

QUERY = "what is the effect of a slipstream on the lift of a wing at high angles of attack"
PASSAGE = " ".join(["the measured lift of the wing increases with the slipstream velocity ratio"] * 20)


def _variant(value: str):
    """(train.dropout, train.fast_dropout) of a variant such as ``null``, ``0`` or ``null:fast``."""
    dropout, _, fast = value.partition(":")
    return (None if dropout == "null" else float(dropout)), fast == "fast"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dropouts", default="null,null:fast,0",
                    help="train.dropout values, comma-separated (null: the checkpoint's; ':fast' adds train.fast_dropout=true)")
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--pairs-per-row", type=int, default=5)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--reps", type=int, default=6)
    args = ap.parse_args(argv)
    name = resolve_model_name("sentence-transformers/all-MiniLM-L6-v2")
    variants = args.dropouts.split(",")
    models, optims, blocks = {}, {}, contextlib.ExitStack()
    for v in variants:
        torch.manual_seed(0)
        models[v] = build_segment_cosine_cross_encoder(name, args.length, -4.0)
        dropout, fast = _variant(v)
        set_dropout(models[v], dropout)
        blocks.enter_context(fast_dropout(models[v], fast))
        optims[v] = torch.optim.AdamW(models[v].parameters(), lr=5e-5, fused=True)
    n = args.rows * args.pairs_per_row
    feats = models[variants[0]].preprocess([(QUERY, PASSAGE)] * n)
    target = torch.zeros(args.rows, dtype=torch.long)
    times = {v: [] for v in variants}
    for rep in range(args.reps + 1):  # the first round warms up
        for v in variants:
            m, opt = models[v], optims[v]
            m.train()
            t0 = time.perf_counter()
            scores = m(dict(feats))["scores"].view(args.rows, args.pairs_per_row)
            torch.nn.functional.cross_entropy(scores * 20.0, target).backward()
            opt.step()
            opt.zero_grad()
            if rep:
                times[v].append(time.perf_counter() - t0)
    first = statistics.median(times[variants[0]])
    print(f"one training step: {n} pairs x {args.length} tokens, {torch.get_num_threads()} threads, median of {args.reps}")
    for v in variants:
        t = statistics.median(times[v])
        print(f"train.dropout={v:10s}  {t * 1000:7.0f} ms  {t / first:.2f}x the time of train.dropout={variants[0]}")
    blocks.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
