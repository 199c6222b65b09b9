"""Dev-only ablations on a finished train run: re-make the dev choices under other settings, no test queries touched.

    python benchmarks/bench_dev.py outputs/train/<run> rerank.max_length=128 rerank.top_k=50
    python benchmarks/bench_dev.py outputs/train/<run> --grid rerank.max_length=128,192,256

The run's resolved config.yaml is reloaded with the overrides, its dev queries are carved exactly
as training carved them (same seed and fraction), and rerankft.evaluation.fusion_fit.fit_fusion
reranks every first stage's dev candidates with the run's tuned model, fits the fusion weights and
picks the final system: one row per setting with the dev nDCG@10 of each system. Scores are cached
under cache_dir, so settings that share pairs cost little. Use it to choose defaults on dev.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from rerankft.data.dataset import training_split
from rerankft.data.loading import load_from_config
from rerankft.evaluation.fusion_fit import fit_fusion
from rerankft.scoring.loading import run_model_dir


def settings(overrides: list[str], grid: list[str]) -> list[list[str]]:
    """Every combination of the --grid values, each with the fixed overrides."""
    axes = [[f"{k}={v}" for v in vals.split(",")] for k, vals in (g.split("=", 1) for g in grid)]
    return [list(overrides) + list(combo) for combo in itertools.product(*axes)] if axes else [list(overrides)]


def dev_row(run: Path, overrides: list[str]) -> dict:
    cfg = OmegaConf.load(run / "config.yaml")
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    dataset = load_from_config(cfg.data)
    _, dev = training_split(dataset, cfg)
    t0 = time.perf_counter()
    sel = fit_fusion(cfg, dataset, dev, run_model_dir(run, "run"), fusion=bool(cfg.rerank.fusion))
    return {"settings": " ".join(overrides) or "(run's own)", "seconds": round(time.perf_counter() - t0, 1), **(sel or {})}


def _final(row: dict) -> str:
    """The final system and the share of bootstrap resamples of the dev queries that choose it."""
    share = (row.get("final_stability") or {}).get("share", {}).get(row.get("final"))
    return str(row.get("final")) + (f" ({share:.0%})" if share is not None else "")


def table(rows: list[dict]) -> str:
    systems = list(dict.fromkeys(s for r in rows for s in r.get("dev_ndcg@10", {})))
    header = ["settings", *systems, "final", "s"]
    lines = [header] + [[r["settings"], *(f"{r['dev_ndcg@10'].get(s, float('nan')):.4f}" for s in systems),
                         _final(r), f"{r['seconds']:.0f}"] for r in rows]
    widths = [max(len(x[i]) for x in lines) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(lines[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in lines[1:]])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a finished train run directory (config.yaml, model/)")
    ap.add_argument("overrides", nargs="*", help="key=value applied to the run's config")
    ap.add_argument("--grid", nargs="*", default=[], metavar="KEY=V1,V2", help="one row per combination")
    args = ap.parse_args(argv)
    rows = [dev_row(args.run, o) for o in settings(args.overrides, args.grid)]
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
