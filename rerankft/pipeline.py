"""The two recipes, read top to bottom: data -> first stage / mining -> training -> reranking -> metrics -> report.

``train`` is what ``python scripts/train.py`` runs, ``evaluate`` what ``python scripts/eval.py`` runs.
Each step is a plain function call into a small module; nothing is wired by reflection
except the parts users swap (loss, retriever) which come from the config.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from rerankft.cli import is_main_process, run_dir
from rerankft.config import check_model_names, validate_config
from rerankft.data import carve_dev, load_from_config
from rerankft.hub import preflight as hub_preflight
from rerankft.hub import publish
from rerankft.io import write_json
from rerankft.runinfo import write_run_info

log = logging.getLogger("rerankft")


def train(cfg: DictConfig) -> float:
    """Mine hard negatives, fine-tune the cross-encoder, benchmark base vs tuned. Returns dev nDCG@10."""
    from rerankft.mining import mine_hard_negatives
    from rerankft.retrieval import build_retriever

    out = run_dir()
    # 1. Check everything cheap before anything expensive (model loading, encoding, training),
    # and before anything is written: a user mistake leaves only Hydra's log in the run directory.
    validate_config(cfg)
    hub_preflight(cfg)  # hub.push=true without a token or with a bad repo id stops here, not after training
    check_model_names(cfg)  # model.name, retriever.name, teacher: exist locally or are reachable; nothing loaded
    dataset = load_from_config(cfg.data)
    retriever = build_retriever(cfg.retriever, cache_dir=cfg.cache_dir)  # reads a TREC run file; models load lazily
    # Imported after the checks: torch + sentence-transformers take seconds to import.
    from rerankft.benchmark import run_benchmark
    from rerankft.fusion import fit_fusion
    from rerankft.training import fit_cross_encoder

    # 2. Dev queries for model selection come out of the training split, never the test split.
    train_qrels, dev_qrels = carve_dev(dataset.split(cfg.data.splits.train), cfg.data.dev_fraction, cfg.train.seed)
    main = is_main_process()  # under `accelerate launch` every rank runs this recipe; only rank 0 writes files
    if main:
        write_run_info(out, cfg, dataset, seed=cfg.train.seed)
    log.info("queries: %d train, %d dev, %d test", len(train_qrels), len(dev_qrels), len(dataset.split(cfg.data.splits.test)))

    # 3. First stage + hard negatives for the training queries (every rank mines the same, seeded, rows).
    mined = mine_hard_negatives(dataset, train_qrels, retriever, cfg.miner)
    if main:
        write_json(out / "mining.json", mined.report)
    dev_run = retriever.retrieve(dataset, list(dev_qrels), k=cfg.dev.top_k)

    # 4. Fine-tune; the checkpoint with the best dev nDCG@10 is kept. train.resume=<run dir>
    # continues from its last checkpoint (scripts/train.py then runs in that directory).
    result = fit_cross_encoder(cfg, dataset, mined, dev_qrels, dev_run, out)

    # 5. Benchmark base vs tuned on the test split (same candidates for every reranker), with
    # tuned+fusion: tuned interpolated with the first stage's score, the weight fitted on dev.
    if result.is_main_process:
        fusion = fit_fusion(cfg, dataset, dev_qrels, result.model_dir) if cfg.rerank.get("fusion") else None
        if fusion is not None:
            write_json(out / "fusion.json", fusion)
        weights = {"tuned": fusion["weights"]} if fusion else None
        metrics = run_benchmark(cfg, dataset, {"base": result.base_model or cfg.model.name, "tuned": str(result.model_dir)}, out,
                                fusion=weights)
        metrics["dev"] = result.dev_summary
        write_json(out / "metrics.json", metrics)
        log.info("run directory: %s", out)

        # 6. Publish: hub.dry_run writes <run>/hub_upload; hub.push uploads it. A failed upload
        # keeps everything above and says how to retry with scripts/push.py.
        if cfg.hub.push or cfg.hub.dry_run:
            publish(cfg.hub, out)
    return float(result.best_dev)


def evaluate(cfg: DictConfig) -> float:
    """Benchmark first stages and each reranker in ``rerankers`` on the test split. Returns the first reranker's nDCG@10."""
    from rerankft.benchmark import read_fusion, resolve_rerankers, run_benchmark

    out = run_dir()
    validate_config(cfg)
    rerankers = resolve_rerankers(cfg)  # name -> model path/id; paths checked before data or models load
    check_model_names(cfg)  # hub ids: offline, they must already be in the Hugging Face cache
    dataset = load_from_config(cfg.data)
    write_run_info(out, cfg, dataset, seed=cfg.train.seed)
    # A tuned run's fusion weights (fitted on its dev queries) apply to `tuned` when rerank.fusion is on.
    fusion = read_fusion(cfg.get("tuned")) if cfg.rerank.get("fusion") and "tuned" in rerankers else None
    metrics = run_benchmark(cfg, dataset, rerankers, out, fusion={"tuned": fusion["weights"]} if fusion else None)
    write_json(out / "metrics.json", metrics)
    log.info("run directory: %s", out)
    systems = metrics["systems"]
    first = next((s for s in systems if ">>" in s and not s.endswith(">>oracle")), next(iter(systems)))
    return float(systems[first].get("nDCG@10", 0.0))
