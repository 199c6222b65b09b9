"""Dev-only: the tuned model's weights interpolated with its start (WiSE-FT), or pushed past it.

    python benchmarks/bench_interpolate.py outputs/train/<run> [<run> ...] [--alphas 0.4,0.6,0.8,1,1.25,1.5]

Weights = (1 - a) * start + a * tuned, every tensor of the encoder and of the segment_cosine head,
and the gate, scale and bias the model's config.json holds. ``a`` = 1 is the run's tuned model,
``a`` < 1 pulls it back toward its start (the untrained gated bi-encoder, ``<run>/base_model``): the
weight-space ensembling of Wortsman et al. 2022 (WiSE-FT), which keeps more of what the start knew
when a fine-tune on few labels overfits; ``a`` > 1 goes further along the fine-tune's direction.
Nothing is trained, so one run gives the whole curve.

For each run and ``a``: the dev queries carved as training carved them, every first stage's top
``rerank.top_k`` reranked by the interpolated model, and two figures: tuned alone and tuned+fusion
at its 5-fold cross-validated value, each the mean over the BM25, dense and hybrid candidate sets
(as bench_seeds.py reports them). The last rows are the means over the runs. No test query is read.
The interpolated folders are written under ``--work`` (default: a temporary folder, removed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench_fusion import alone_and_fused, dev_candidates, score_pairs
from omegaconf import OmegaConf

from rerankft.data.dataset import training_split
from rerankft.data.loading import load_from_config

WEIGHTS = ("model.safetensors", "1_SegmentCosineScore/model.safetensors")
CONFIG_SCALARS = ("segment_gate", "segment_cosine_scale", "segment_cosine_bias")


def interpolate(start: Path, tuned: Path, a: float, dst: Path) -> Path:
    """A copy of ``tuned`` at ``dst`` whose weights are (1 - a) * start + a * tuned."""
    from safetensors.torch import load_file, save_file

    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(tuned, dst)
    if a == 1:  # the tuned model itself, byte for byte: its scores come from the score cache
        return dst
    for name in WEIGHTS:
        if not (tuned / name).is_file():
            continue
        s, t = load_file(start / name), load_file(tuned / name)
        if set(s) != set(t):
            raise SystemExit(f"error: {start / name} and {tuned / name} hold different tensors: not one model's start")
        mixed = {k: ((1 - a) * s[k].float() + a * t[k].float()).to(t[k].dtype).contiguous() for k in t}
        save_file(mixed, dst / name, metadata={"format": "pt"})
    cs, ct = (json.loads((p / "config.json").read_text()) for p in (start, tuned))
    for k in CONFIG_SCALARS:  # the gate lives in config.json, not in the weights
        if k in cs and k in ct:
            ct[k] = (1 - a) * float(cs[k]) + a * float(ct[k])
    (dst / "config.json").write_text(json.dumps(ct, indent=2))
    return dst


def curve(run: Path, alphas: list[float], work: Path) -> dict[float, tuple[float, float]]:
    """{a: (tuned alone, tuned+fusion CV)} on the run's dev queries, each the mean over the first stages."""
    cfg = OmegaConf.load(run / "config.yaml")
    start = run / "base_model"
    if not (start / "config.json").is_file() or not (run / "model" / "config.json").is_file():
        raise SystemExit(f"error: {run}: needs model/ and base_model/ (a train run with a gated start)")
    dataset = load_from_config(cfg.data)
    _, dev = training_split(dataset, cfg)
    firsts, union, signals = dev_candidates(cfg, dataset, dev)
    out = {}
    for a in alphas:
        folder = interpolate(start, run / "model", a, work / f"{run.name}-a{a}")
        scores = score_pairs(folder, cfg, dataset, union, desc=f"{run.name} a={a}")
        alone, fused = alone_and_fused(dev, scores, firsts, signals, cfg)
        out[a] = (sum(alone.values()) / len(alone), sum(fused.values()) / len(fused))
        print(f"| {run.name} | {a:g} | {out[a][0]:.4f} | {out[a][1]:.4f} |", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished train run directories (config.yaml, model/, base_model/)")
    ap.add_argument("--alphas", default="0.4,0.6,0.8,1,1.25,1.5", help="comma-separated a values; 1 = the tuned model")
    ap.add_argument("--work", type=Path, default=None, help="keep the interpolated folders here (default: removed)")
    args = ap.parse_args(argv)
    alphas = [float(x) for x in args.alphas.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="rerankft-interp-"))
    print("| run | a | tuned alone (mean) | tuned+fusion, CV (mean) |\n|---|---|---|---|")
    try:
        curves = [curve(run, alphas, work) for run in args.runs]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    for a in alphas:
        alone = sum(c[a][0] for c in curves) / len(curves)
        fused = sum(c[a][1] for c in curves) / len(curves)
        print(f"| mean of {len(curves)} | {a:g} | {alone:.4f} | {fused:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
