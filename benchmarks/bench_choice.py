"""What the final-system rule is worth, on dev only: nested leave-one-out over a run's dev queries.

    python benchmarks/bench_choice.py outputs/train/<run> [<run> ...] [--thresholds 0,0.5,0.6,0.7,0.8,0.9]

For each finished train run: its dev queries are carved as training carved them, every system's
dev nDCG@10 per query is recomputed with the run's tuned model (scores come from the cache, so a
run costs seconds), and then each dev query is held out in turn. On the others the rule chooses
(``choose_with_prior`` with ``dev.min_stability`` = each threshold and the run's ``dev.prior``; the
fused systems compete with their cross-validated value on those queries and are refitted on them),
and the chosen system is scored on the held-out query. A fixed system (its weights still fitted on
the others) is scored the same way. The mean over the held-out queries says what each rule is
worth on queries it did not see; no test query is read. Threshold 0 is the plain dev maximum.
``--priors best>>tuned+fusion``: the prior's candidates are the first stage (BM25, dense or hybrid)
with the best mean on each fold's left-in queries. ``--set rerank.top_k=50`` (repeatable): the runs as
if made with that setting, for settings that change no training (the rerank depth, the fusion rule,
``dev.pool``); with the same model, only the dev systems are rescored.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

from rerankft.core.runtime import fold_dir
from rerankft.core.systems import competing, dev_pool
from rerankft.data.dataset import dev_folds, dev_seed, fold_splits, training_split
from rerankft.data.loading import load_from_config
from rerankft.evaluation.fusion_fit import (
    best_on,
    choose_with_prior,
    held_out,
    prior_for_run,
    score_dev_systems,
    weight_picker,
)
from rerankft.retrieval.factory import FIRST_STAGES, rerankable
from rerankft.scoring.loading import run_model_dir

BEST_CANDIDATES = "best"  # "best>>tuned+fusion": a prior whose candidates are chosen on each fold's left-in queries

# Runs made before dev.prior existed get the recipe's default, read from the recipe itself.
DEFAULT_PRIOR = str(OmegaConf.load(Path(__file__).resolve().parent.parent / "configs" / "train.yaml").dev.prior)


def nested_loo(per_query: dict, tables: dict, prior: str | None, thresholds: list[float], seed: int = 0,
               pickers: dict | None = None, pool: str = "all") -> dict:
    """Mean held-out dev nDCG@10 of each rule (``rule@t``) and each fixed system, and what each rule chose.

    ``pickers[fused system](qids) -> grid index`` refits its weights on the left-in queries: the run's own
    rule (:func:`weight_picker`); a fused system without one refits by the argmax (:func:`best_on`).
    ``pool`` (``dev.pool``): which systems the rule chooses among (:func:`competing`); every system is
    still scored as a fixed one.
    """
    pickers = {name: (pickers or {}).get(name) or (lambda qs, t=table: best_on(t, qs)) for name, (_, table) in tables.items()}
    qids = sorted(next(iter(per_query.values())))
    values: dict[str, list[float]] = {}
    chosen: dict[str, Counter] = {}
    for q in qids:
        rest = [x for x in qids if x != q]
        inner = {}
        for name, pq in per_query.items():
            if name in tables:  # fused: held-out values within the left-in queries, weights refitted there
                inner[name] = held_out({x: tables[name][1][x] for x in rest}, seed=seed, fit=pickers[name])
            else:
                inner[name] = {x: pq[x] for x in rest}

        fold_prior = _resolve_prior(prior, inner)
        compete = {n: inner[n] for n in competing(inner, pool, keep=[fold_prior])}
        for t in thresholds:
            final = choose_with_prior(compete, fold_prior, t, seed=seed).system
            values.setdefault(f"rule@{t:g}", []).append(_held_out_value(per_query, tables, pickers, final, q, rest))
            chosen.setdefault(f"rule@{t:g}", Counter())[final] += 1
        for name in per_query:
            values.setdefault(name, []).append(_held_out_value(per_query, tables, pickers, name, q, rest))
    return {"queries": len(qids), "mean": {k: sum(v) / len(v) for k, v in values.items()},
            "chosen": {k: dict(c.most_common()) for k, c in chosen.items()}}


def _resolve_prior(prior: str | None, inner: dict) -> str | None:
    """``best>>tuned+fusion``: the prior's candidates are the rerankable first stage (BM25, dense or hybrid)
    with the best mean on the left-in queries, a choice made on dev like every other; any other prior as it is."""
    if not prior or not prior.startswith(BEST_CANDIDATES + ">>"):
        return prior
    stages = rerankable(n for n in FIRST_STAGES if n in inner)  # prf re-orders the hybrid's candidates: not a set of its own
    best = max(stages, key=lambda n: sum(inner[n].values()) / len(inner[n]))  # ties: the earlier name
    return best + prior[len(BEST_CANDIDATES):]


def _held_out_value(per_query: dict, tables: dict, pickers: dict, name: str, q: str, rest: list[str]) -> float:
    """``name``'s nDCG@10 on query ``q``; a fused system with the weights fitted on ``rest`` only."""
    if name in tables:
        return tables[name][1][q][pickers[name](rest)]
    return per_query[name][q]


def run_rows(run: Path, thresholds: list[float], priors: list[str] | None = None, overrides: list[str] | None = None) -> dict:
    cfg = OmegaConf.merge(OmegaConf.load(run / "config.yaml"), OmegaConf.from_dotlist(list(overrides or [])))
    dataset = load_from_config(cfg.data)
    dev, models = dev_models(run, cfg, dataset)
    fusion = bool(cfg.rerank.fusion)
    scored = score_dev_systems(cfg, dataset, dev, models, fusion)
    seed = dev_seed(cfg)  # the run's own: it seeded the dev fit's folds and the final choice's bootstrap
    pickers = {name: weight_picker(cfg, grid, table) for name, (grid, table) in scored.tables.items()}
    out: dict = {"mean": {}, "chosen": {}}
    for prior in priors or [str(OmegaConf.select(cfg, "dev.prior", default=None) or DEFAULT_PRIOR)]:
        prior = prior_for_run(prior, fusion)
        one = nested_loo(scored.per_query, scored.tables, prior, thresholds, seed=seed, pickers=pickers,
                         pool=dev_pool(cfg))  # the run's own, or --set dev.pool=fused
        tag = "" if not priors or len(priors) == 1 else f" ({prior})"
        out["queries"] = one["queries"]
        out["mean"].update({(k + tag if k.startswith("rule@") else k): v for k, v in one["mean"].items()})
        out["chosen"].update({k + tag: v for k, v in one["chosen"].items()})
    out["dev"] = {n: sum(v.values()) / len(v) for n, v in scored.per_query.items()}
    return {"run": str(run), "data": str(cfg.data.get("path") or cfg.data.name), "prior": ", ".join(priors or []) or "the run's", **out}


def dev_models(run: Path, cfg, dataset) -> tuple[dict, object]:
    """(the run's dev qrels, what scores them): its model on its dev carve, or for a cross-fitted run
    (``dev.folds``) every training query with the fold model that did not train on it."""
    folds = dev_folds(cfg)
    if not folds:
        return training_split(dataset, cfg)[1], run_model_dir(run, "run")
    splits = fold_splits(dataset, cfg, folds)
    dev = {q: v for _, d in splits for q, v in d.items()}
    models = [run_model_dir(fold_dir(run, i), f"{run} fold {i}") for i in range(folds)]  # checked: no model, a clear error
    return dev, {q: str(models[i]) for i, (_, d) in enumerate(splits) for q in d}


def table(rows: list[dict]) -> str:
    names = list(dict.fromkeys(k for r in rows for k in r["mean"]))
    header = ["held-out dev nDCG@10", *(f"{Path(r['data']).name} ({r['queries']} q)" for r in rows), "mean"]
    lines = [header]
    for n in names:
        vals = [r["mean"].get(n) for r in rows]
        known = [v for v in vals if v is not None]
        lines.append([n, *("-" if v is None else f"{v:.4f}" for v in vals), f"{sum(known) / len(known):.4f}" if len(known) == len(vals) else "-"])
    widths = [max(len(x[i]) for x in lines) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([fmt(lines[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in lines[1:]])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished train run directories (config.yaml and model/)")
    ap.add_argument("--thresholds", default="0,0.5,0.6,0.7,0.8,0.9", help="dev.min_stability values to compare")
    ap.add_argument("--priors", default=None, help="dev.prior systems to compare (comma-separated); default: the run's own")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting that changes no training, applied to every run's config (e.g. rerank.top_k=50)")
    args = ap.parse_args(argv)
    thresholds = [float(x) for x in args.thresholds.split(",")]
    for run in args.runs:
        if not (run / "config.yaml").is_file():
            print(f"error: {run}: not a train run directory (no config.yaml)", file=sys.stderr)
            return 2
    priors = args.priors.split(",") if args.priors else None
    for item in args.set:
        if "=" not in item:
            print(f"error: --set {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
    rows = [run_rows(run, thresholds, priors, args.set) for run in args.runs]
    print(table(rows))
    for r in rows:
        print(f"\n{r['run']} (prior {r['prior']}): chosen across the {r['queries']} folds")
        for rule, c in r["chosen"].items():
            print(f"  {rule}: " + ", ".join(f"{n} {k}" for n, k in c.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
