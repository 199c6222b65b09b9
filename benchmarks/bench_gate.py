"""Cost of the gated segment_cosine body against full attention, in the same process (a ratio).

    python benchmarks/bench_gate.py [--pairs 24] [--length 128] [--reps 5]

The gate adds a (batch, 1, seq, seq) additive mask and restarted positions; this measures what
that costs per training step (forward + backward) and per scoring batch (forward), interleaving
the two models so machine noise hits both alike. Prints medians and gated/full ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from rerankft.modeling.heads import build_segment_cosine_cross_encoder  # noqa: E402
from rerankft.modeling.names import resolve_model_name  # noqa: E402

QUERY = "what is the effect of a slipstream on the lift of a wing at high angles of attack"
PASSAGE = " ".join(["the measured lift of the wing increases with the slipstream velocity ratio"] * 20)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=24, help="pairs per step (default: a batch of 4 rows x 6 pairs)")
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    name = resolve_model_name("sentence-transformers/all-MiniLM-L6-v2")
    models = {"full": build_segment_cosine_cross_encoder(name, args.length, None),
              "gated": build_segment_cosine_cross_encoder(name, args.length, -4.0)}
    feats = {k: m.preprocess([(QUERY, PASSAGE)] * args.pairs) for k, m in models.items()}
    times = {(k, what): [] for k in models for what in ("train step", "score")}
    for rep in range(args.reps + 1):  # the first round warms up
        for k, m in models.items():
            m.train()
            t0 = time.perf_counter()
            m(feats[k])["scores"].sum().backward()
            t1 = time.perf_counter()
            m.eval()
            with torch.inference_mode():
                m(feats[k])
            t2 = time.perf_counter()
            if rep:
                times[(k, "train step")].append(t1 - t0)
                times[(k, "score")].append(t2 - t1)
    for what in ("train step", "score"):
        full, gated = statistics.median(times[("full", what)]), statistics.median(times[("gated", what)])
        print(f"{what:10s}  full {full * 1000:7.0f} ms  gated {gated * 1000:7.0f} ms  gated/full {gated / full:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
