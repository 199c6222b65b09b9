"""The bi-encoder fine-tune (bi_encoder=mnrl) on dev only: its settings, against no fine-tune, on one finished run.

    python benchmarks/bench_bi_encoder.py outputs/train/<run> --grid bi_encoder.learning_rate=5e-5,1e-4,2e-4
    python benchmarks/bench_bi_encoder.py outputs/train/<run> bi_encoder.max_seq_length=256

The run's resolved config.yaml is reloaded, its training queries' hard negatives are mined again
exactly as training mined them (same first stage, seed and miner settings), and for each setting
a bi-encoder is fine-tuned on them (rerankft.training.bi_encoder.fit_bi_encoder) into
``--out/<setting>/``. Then rerankft.evaluation.fusion_fit.fit_fusion makes the dev choices with
the run's own tuned cross-encoder, once with the untrained bi-encoder as the dense signal (the
``none`` row) and once per setting with the fine-tuned one (which also adds the dense-ft and
hybrid-ft first stages). Only the dense signal and those first stages differ between the rows, and
no test query is read. Fused systems are at their 5-fold cross-validated dev nDCG@10.

    python benchmarks/bench_bi_encoder.py outputs/train/<run> --folds 5 --grid bi_encoder.learning_rate=1e-4,2e-4

``--folds K`` asks a question 27 dev queries answer badly: does the fine-tuned bi-encoder retrieve
better on queries it did not train on? Every judged query of the training split (the dev queries
too) is held out once: K bi-encoders per setting, each trained on the other folds' mined rows, and
the dense-ft and hybrid-ft first stages of each are scored on its held-out fold only, against the
untrained dense and hybrid on the same queries (paired randomization p). Still no test query.
Its reason: on Cranfield the learning rate chosen on the 27 dev queries (2e-4: dense 0.377 -> 0.423
on dev) moved the test split's dense retrieval by +0.006 only (README "What to expect").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_dev import settings  # the same --grid syntax as bench_dev.py

from rerankft.core.io import write_json
from rerankft.core.metrics import evaluate_run
from rerankft.data.dataset import training_split
from rerankft.data.loading import load_from_config
from rerankft.evaluation.fusion_fit import fit_fusion
from rerankft.evaluation.stats import paired_randomization_test
from rerankft.mining.miner import mine_hard_negatives
from rerankft.retrieval.factory import build_first_stage, build_retriever
from rerankft.scoring.loading import run_model_dir

MEASURES = ["nDCG@10", "R@100"]


def _bi_config(setting: list[str]):
    return OmegaConf.merge(OmegaConf.load(REPO / "configs" / "bi_encoder" / "mnrl.yaml"),
                           OmegaConf.from_dotlist([s.removeprefix("bi_encoder.") for s in setting]))


def _per_query(retriever, dataset, qrels) -> dict[str, dict[str, float]]:
    """{qid: {measure: value}} of the retriever's top 100."""
    by_measure = evaluate_run(qrels, retriever.retrieve(dataset, sorted(qrels), k=100), MEASURES)[1]
    return {q: {m: by_measure[m][q] for m in MEASURES} for q in qrels}


def _setting_dir(out: Path, setting: list[str]) -> Path:
    return out / ("_".join(s.replace("/", "-") for s in setting) or "defaults")


def _fit_once(setting: list[str], cfg, mined, out: Path, fit_bi_encoder) -> dict:
    """Train ``out/bi_encoder`` unless an earlier, finished call did (its fit.json is there): a rerun resumes.
    Returns fit_bi_encoder's summary."""
    done = out / "fit.json"
    if not done.is_file():
        dense = build_first_stage("dense", cfg, cfg.cache_dir)
        fit = fit_bi_encoder(_bi_config(setting), dense.model, mined, out / "bi_encoder", seed=cfg.train.seed,
                             precision=cfg.train.precision)
        write_json(done, fit)  # atomic: a killed run never leaves a fit.json beside a half-saved model
    return json.loads(done.read_text())


def folds_table(args, cfg, dataset, fit_bi_encoder) -> int:
    """--folds K: each setting's bi-encoders scored on the training split's queries they did not train on."""
    qrels = dataset.split(cfg.data.splits.train)  # every judged training query, dev ones included
    mined = mine_hard_negatives(dataset, qrels, build_retriever(cfg.retriever, cache_dir=cfg.cache_dir), cfg.miner)
    qids = sorted(qrels)
    random.Random(int(cfg.train.seed)).shuffle(qids)
    folds = [qids[f:: args.folds] for f in range(args.folds)]
    base = {n: _per_query(build_first_stage(n, cfg, cfg.cache_dir), dataset, qrels) for n in ("dense", "hybrid")}
    rows = {}
    for setting in settings(args.overrides, args.grid):
        name = " ".join(setting) or "defaults"
        held: dict[str, dict] = {"dense": {}, "hybrid": {}}
        seconds = 0.0
        for f, fold in enumerate(folds):
            keep = set(qids) - set(fold)
            out = _setting_dir(args.out / "folds", setting) / f"fold{f}"
            part = dataclasses.replace(mined, rows=[r for r in mined.rows if r.qid in keep])
            seconds += float(_fit_once(setting, cfg, part, out, fit_bi_encoder)["seconds"])
            fold_qrels = {q: qrels[q] for q in fold}
            for n, values in held.items():
                values.update(_per_query(build_first_stage(f"{n}-ft", cfg, cfg.cache_dir, {"dense": str(out / "bi_encoder")}),
                                          dataset, fold_qrels))
        rows[name] = {"seconds_per_fold": round(seconds / args.folds, 1), "per_query": held}
    print(f"held-out nDCG@10 / R@100 over the {len(qids)} judged training queries of {args.run}, {args.folds} folds")
    print("| setting | first stage | untrained | fine-tuned (held out) | difference (paired p; better / worse) | training per fold |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        for n, per_query in row["per_query"].items():
            for m in MEASURES:
                a = [per_query[q][m] for q in qids]
                b = [base[n][q][m] for q in qids]
                p = paired_randomization_test(a, b)
                better, worse = sum(x > y for x, y in zip(a, b)), sum(x < y for x, y in zip(a, b))
                print(f"| {name} | {n} {m} | {sum(b) / len(b):.4f} | {sum(a) / len(a):.4f} | {(sum(a) - sum(b)) / len(a):+.4f} "
                      f"(p = {p:.3f}; {better} / {worse}) | {row['seconds_per_fold']} s |")
    write_json(args.out / "folds.json", {"run": str(args.run), "folds": folds, "untrained": base, "settings": rows})
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a finished train run (config.yaml, model/)")
    ap.add_argument("overrides", nargs="*", help="bi_encoder.* overrides for every setting")
    ap.add_argument("--grid", nargs="*", default=[], help="key=v1,v2 axes; every combination is one setting")
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "bench_bi_encoder")
    ap.add_argument("--folds", type=int, default=0, help="K > 1: held-out retrieval over K folds of the training queries")
    args = ap.parse_args(argv)

    from rerankft.training.bi_encoder import (
        fit_bi_encoder,  # torch + sentence-transformers
    )

    cfg = OmegaConf.load(args.run / "config.yaml")
    dataset = load_from_config(cfg.data)
    if args.folds > 1:
        return folds_table(args, cfg, dataset, fit_bi_encoder)
    train, dev = training_split(dataset, cfg)
    mined = mine_hard_negatives(dataset, train, build_retriever(cfg.retriever, cache_dir=cfg.cache_dir), cfg.miner)
    model_dir = run_model_dir(args.run, "run")
    rows = {"none": fit_fusion(cfg, dataset, dev, model_dir)}
    fits = {}
    for setting in settings(args.overrides, args.grid):
        name = " ".join(setting) or "defaults"
        out = _setting_dir(args.out, setting)
        fits[name] = _fit_once(setting, cfg, mined, out, fit_bi_encoder)
        rows[name] = fit_fusion(cfg, dataset, dev, model_dir, signal_models={"dense": str(out / "bi_encoder")})
    systems = list(dict.fromkeys(s for r in rows.values() for s in r["dev_ndcg@10"]))
    print(f"dev nDCG@10 on {len(dev)} dev queries of {args.run} (fused systems: cross-validated)")
    print("| system | " + " | ".join(rows) + " |\n|---|" + "---|" * len(rows))
    for s in systems:
        print(f"| {s} | " + " | ".join(f"{r['dev_ndcg@10'].get(s, float('nan')):.4f}" for r in rows.values()) + " |")
    print("| final system | " + " | ".join(r["final"] for r in rows.values()) + " |")
    print("| bi-encoder training (s) | - | " + " | ".join(str(f["seconds"]) for f in fits.values()) + " |")
    write_json(args.out / "results.json", {"run": str(args.run), "dev": rows, "fits": fits})
    return 0


if __name__ == "__main__":
    sys.exit(main())
