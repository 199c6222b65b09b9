"""Every recipe, read top to bottom: data -> first stage / mining -> training -> scoring -> evaluation -> publish.

``train`` is what ``python scripts/train.py`` runs, ``evaluate`` what ``python scripts/eval.py``
runs, ``rerank_file`` what ``python scripts/rerank.py`` runs, ``distill`` what ``python scripts/distill.py``
runs, ``push`` what ``python scripts/push.py`` runs. Each step is a plain function call into one stage's subpackage; nothing is wired by
reflection except the parts users swap (loss, retriever), which come from the config.

Every stage's module imports in well under a second (torch and sentence-transformers load
lazily, when a model is first built), so a typo in a config or a data file fails fast. The one
exception is the trainer, imported inside ``train`` for that reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from rerankft.config import check_model_names, validate_config
from rerankft.core.distributed import barrier
from rerankft.core.errors import ConfigError, DataError
from rerankft.core.io import write_json, write_text
from rerankft.core.runinfo import StageClock, write_run_info
from rerankft.core.runs import read_trec_run, write_trec_run
from rerankft.core.runtime import fold_dir, folds_dir, is_main_process, run_dir
from rerankft.data.candidates import read_candidates_jsonl, reranked_jsonl
from rerankft.data.dataset import dev_folds, fold_splits, training_split
from rerankft.data.loading import load_from_config
from rerankft.evaluation.benchmark import first_reranked_system, run_benchmark
from rerankft.evaluation.fusion_fit import fit_fusion
from rerankft.evaluation.rerankers import (
    read_fusion,
    resolve_rerankers,
    with_signal_paths,
)
from rerankft.mining.miner import mine_hard_negatives
from rerankft.mining.pseudo import SPLIT as PSEUDO_SPLIT
from rerankft.mining.pseudo import focus_passages, pseudo_miner, pseudo_query_dataset
from rerankft.mining.teacher import grade_lists, teacher_signals
from rerankft.publish.hub import preflight as hub_preflight
from rerankft.publish.hub import publish, push_run
from rerankft.retrieval.factory import build_first_stage, build_retriever
from rerankft.scoring.empty import demote_empty_in_run
from rerankft.scoring.openvino import model_calibration_pairs, write_calibration_pairs
from rerankft.scoring.reranker import Reranker
from rerankft.training.resume import check_resume_matches

log = logging.getLogger("rerankft")


# ----------------------------------------------------------------------------- train


def train(cfg: DictConfig) -> float:
    """Mine hard negatives, fine-tune the cross-encoder, benchmark base vs tuned. Returns dev nDCG@10."""

    out = run_dir()
    clock = StageClock()  # metrics.json "timings": seconds per stage
    # 1. Check everything cheap before anything expensive (model loading, encoding, training),
    # and before anything is written: a user mistake leaves only Hydra's log in the run directory.
    validate_config(cfg)
    hub_preflight(cfg)  # hub.push=true without a token or with a bad repo id stops here, not after training
    check_model_names(cfg)  # model.name, retriever.name, teacher: exist locally or are reachable; nothing loaded
    dataset = load_from_config(cfg.data)
    retriever = build_retriever(cfg.retriever, cache_dir=cfg.cache_dir)  # reads a TREC run file; models load lazily
    from rerankft.training.trainer import (
        fit_cross_encoder,  # pulls torch + sentence-transformers: seconds
    )

    # 2. Dev queries for model selection come out of the training split, never the test split.
    train_qrels, dev_qrels = training_split(dataset, cfg)  # data.train_queries caps the labelled queries
    check_resume_matches(cfg, dataset.fingerprint())  # before anything is written over the run's files
    main = is_main_process()  # under `accelerate launch` every rank runs this recipe; only rank 0 writes files
    if main:
        write_run_info(out, cfg, dataset, seed=cfg.train.seed)
    carve = f"{len(train_qrels)} train, {len(dev_qrels)} dev" if not dev_folds(cfg) else \
        f"{len(train_qrels) + len(dev_qrels)} training, each a dev query of one of {dev_folds(cfg)} folds"
    log.info("queries: %s, %d test", carve, len(dataset.split(cfg.data.splits.test)))
    clock.lap("data")

    if dev_folds(cfg):  # 3-4 with dev.folds=k: k models, each judged on the queries it never saw, averaged into one
        result, dev_qrels, dev_models = _cross_fit(cfg, dataset, retriever, out, main, fit_cross_encoder)
        mined = None  # (bi_encoder=mnrl is refused with dev.folds: it would train on every fold's dev queries)
        clock.lap("training")
    else:
        # 3. Training rows for the labelled queries and (adapt=pseudo_queries) for pseudo-queries from the corpus.
        mined, adapt_mined = _training_rows(cfg, dataset, train_qrels, retriever, out if main else None)
        dev_run = retriever.retrieve(dataset, list(dev_qrels), k=cfg.dev.top_k)
        clock.lap("mining")

        # 4. Fine-tune (after the adaptation steps, if any); the checkpoint with the best dev metric is kept.
        # train.resume=<run dir> continues from its last checkpoint (scripts/train.py then runs in that directory).
        result = fit_cross_encoder(cfg, dataset, mined, dev_qrels, dev_run, out, adapt_mined=adapt_mined)
        dev_models = result.model_dir
        clock.lap("training")  # adaptation, training steps, dev evaluations, checkpoints
    # 4b. bi_encoder=mnrl: the bi-encoder fine-tuned on the same rows, the fusion's dense signal.
    signal_models, bi_summary = _bi_encoder_signal(cfg, mined, out, clock)

    # 5. On the dev queries: fusion weights of tuned with BM25 and dense scores, which first stage's
    # candidates to rerank, and the final system. Then the benchmark of base vs tuned on the test
    # split (same candidates for every reranker), which reports that final system's test figures.
    # Under `accelerate launch` every rank scores its share of the queries; rank 0 writes.
    selection = fit_fusion(cfg, dataset, dev_qrels, dev_models, fusion=cfg.rerank.fusion, signal_models=signal_models)
    if selection is not None and main:
        write_json(out / "fusion.json", selection)
    selection = with_signal_paths(selection, out) if selection else selection  # fusion.json keeps them relative
    clock.lap("dev_fusion")
    if cfg.dev.get("only"):  # dev.only=true: an ablation run; the test split is never scored
        if main:
            write_json(out / "dev.json", {"dev": result.dev_summary, "fusion": selection, "train": result.train_summary,
                                          "bi_encoder": bi_summary, "timings": clock.summary()})
            log.info("dev.only: stopped after the dev choices; run directory: %s", out)
        return float(result.best_dev)
    rerankers = {"base": result.base_model or cfg.model.name, "tuned": str(result.model_dir)}
    fusion = {"tuned": selection["weights"]} if selection and selection["weights"] else None
    metrics = run_benchmark(cfg, dataset, rerankers, out, fusion=fusion, selection=selection)
    if not main:
        return float(result.best_dev)
    metrics["dev"] = result.dev_summary
    if bi_summary:
        metrics["bi_encoder"] = bi_summary
    clock.lap("test_benchmark")  # first stages, every reranker's test scoring, latency, report
    metrics["timings"] = clock.summary()
    write_json(out / "metrics.json", metrics)
    log.info("run directory: %s", out)

    # 6. Publish: hub.dry_run writes <run>/hub_upload; hub.push uploads it. A failed upload
    # keeps everything above and says how to retry with scripts/push.py.
    if cfg.hub.push or cfg.hub.dry_run:
        publish(cfg.hub, out)
    return float(result.best_dev)


def _training_rows(cfg: DictConfig, dataset, train_qrels, retriever, out: Path | None):
    """(labelled rows, pseudo-query rows or None): hard negatives from the first stage for each training
    query (every rank mines the same, seeded, rows) and, with adapt=pseudo_queries, for pseudo-queries made
    from the corpus; with loss=teacher_listnet both are also graded into lists by BM25 and dense.
    ``out``: where mining.json / mining_pseudo.json go (None on ranks other than 0)."""
    teachers = teacher_signals(cfg)  # {} unless the loss trains on teacher-graded lists
    return (_labelled_rows(cfg, dataset, train_qrels, retriever, teachers, out),
            _pseudo_rows(cfg, dataset, retriever, teachers, out, train_qrels))


def _labelled_rows(cfg: DictConfig, dataset, train_qrels, retriever, teachers: dict, out: Path | None):
    mined = mine_hard_negatives(dataset, train_qrels, retriever, cfg.miner)
    grade_lists(mined, train_qrels, teachers, cfg, pseudo=False)
    if out is not None:
        write_json(out / "mining.json", mined.report)
    return mined


def _pseudo_rows(cfg: DictConfig, dataset, retriever, teachers: dict, out: Path | None, train_qrels=None):
    """The label-free stage's rows (None with adapt=none): they read no label, so a cross-fitted run mines them once.
    With adapt.focus=queries their source passages come first from the first stage's top adapt.focus_depth for
    ``train_qrels``' queries (their texts only; never the dev queries', which judge the result)."""
    if cfg.adapt.kind == "none":
        return None
    focus = focus_passages(cfg.adapt, dataset, retriever, train_qrels)
    pseudo = pseudo_query_dataset(dataset, cfg.adapt, seed=cfg.train.seed, focus=focus)
    adapt_mined = mine_hard_negatives(pseudo, pseudo.split(PSEUDO_SPLIT), retriever, pseudo_miner(cfg.adapt, cfg.miner))
    grade_lists(adapt_mined, pseudo.split(PSEUDO_SPLIT), teachers, cfg, pseudo=True)
    if out is not None:
        write_json(out / "mining_pseudo.json", adapt_mined.report)
    return adapt_mined


def _cross_fit(cfg: DictConfig, dataset, retriever, out: Path, main: bool, fit):
    """``dev.folds=k``: k rerankers, fold i trained on the other folds' queries and selected on its own
    (``fit`` is :func:`fit_cross_encoder`, passed in because the trainer is imported lazily); their
    weights averaged into ``<run>/model``, the model the test split is scored with.

    Why: with one dev carve, 9-27 queries choose the fusion weights and the final system; here every
    judged training query is a dev query, scored by the fold model that did not train on it.
    Returns (the averaged model's TrainResult, every training query as dev, {dev query: its fold's model})."""
    from rerankft.training.soup import average_models  # torch: loaded with the trainer
    from rerankft.training.trainer import TrainResult

    splits = fold_splits(dataset, cfg, dev_folds(cfg))
    teachers = teacher_signals(cfg)  # built once for every fold
    adapt_mined = _pseudo_rows(cfg, dataset, retriever, teachers, out if main else None)  # one set of pseudo-query rows for every fold
    results, dev_qrels, dev_models = [], {}, {}
    for i, (train_i, dev_i) in enumerate(splits):
        fold_out = fold_dir(out, i)
        fold_out.mkdir(parents=True, exist_ok=True)
        log.info("fold %d of %d: %d training queries, %d dev queries", i + 1, len(splits), len(train_i), len(dev_i))
        mined = _labelled_rows(cfg, dataset, train_i, retriever, teachers, fold_out if main else None)
        dev_run = retriever.retrieve(dataset, list(dev_i), k=cfg.dev.top_k)
        result = fit(cfg, dataset, mined, dev_i, dev_run, fold_out, adapt_mined=adapt_mined, shared_adaptation=folds_dir(out) / "adapted.pt")
        results.append(result)
        dev_qrels.update(dev_i)
        dev_models.update({q: str(result.model_dir) for q in dev_i})
    if main:
        average_models([r.model_dir for r in results], out / "model")
    barrier()  # under `accelerate launch` the other ranks score <run>/model once rank 0 wrote it
    bests = [r.best_dev for r in results]
    summary = {"folds": [r.dev_summary for r in results], "best_dev": sum(bests) / len(bests),
               "model": "the uniform average of the fold models' weights"}
    trained = {"folds": [r.train_summary for r in results], "seconds": round(sum(r.train_summary.get("seconds", 0) for r in results), 1)}
    if main:  # what a single run's train_done.json says (the model card and sweeps read it), for the averaged model
        write_json(out / "train_done.json", {"model_dir": str(out / "model"), "dev": summary, "train": trained})
    soup = TrainResult(model_dir=out / "model", best_dev=summary["best_dev"], dev_summary=summary, is_main_process=main,
                       train_summary=trained, base_model=results[0].base_model)
    return soup, dev_qrels, dev_models


def _bi_encoder_signal(cfg: DictConfig, mined, out: Path, clock: StageClock) -> tuple[dict, dict | None]:
    """({"dense": <run>/bi_encoder}, its training summary) with bi_encoder=mnrl and fusion on, else ({}, None).

    The first stages (candidates, baselines) keep the untrained bi-encoder: a user who trains
    nothing gets those; only the fused systems read the tuned one.
    """
    bi = cfg.get("bi_encoder")
    if not bi or bi.kind == "none" or not cfg.rerank.fusion:
        return {}, None
    from rerankft.training.bi_encoder import (
        fit_bi_encoder,  # pulls torch + sentence-transformers: seconds
    )

    bi_dir = out / "bi_encoder"
    summary = None
    if not (cfg.train.resume and bi_dir.is_dir()):  # a resumed run keeps the one it finished
        dense = build_first_stage("dense", cfg, cfg.cache_dir)  # a fresh copy of the first stage's model, trained in place
        summary = {"base": dense.model_name,
                   **fit_bi_encoder(bi, dense.model, mined, bi_dir, seed=cfg.train.seed, precision=cfg.train.precision)}
    clock.lap("bi_encoder")
    return {"dense": str(bi_dir)}, summary


# ----------------------------------------------------------------------------- evaluate


def evaluate(cfg: DictConfig) -> float:
    """Benchmark first stages and each reranker in ``rerankers`` on the test split. Returns the first reranker's nDCG@10."""

    out = run_dir()
    validate_config(cfg)
    rerankers = resolve_rerankers(cfg)  # name -> model path/id; paths checked before data or models load
    check_model_names(cfg)  # hub ids: offline, they must already be in the Hugging Face cache
    dataset = load_from_config(cfg.data, needs=(str(cfg.eval.split),))  # only the split it evaluates
    main = is_main_process()  # under `accelerate launch` each rank scores its share; rank 0 writes
    if main:
        write_run_info(out, cfg, dataset, seed=cfg.train.seed)
    # A tuned run's dev choices (fusion weights, candidates, final system) apply to `tuned`; never chosen on test.
    selection = read_fusion(cfg.get("tuned")) if "tuned" in rerankers else None
    if selection and not cfg.rerank.fusion:  # the dev choices without the fused systems
        selection = {**selection, "weights": {}}
        if str(selection.get("final", "")).endswith("+fusion"):
            selection.pop("final")
    fusion = {"tuned": selection["weights"]} if selection and selection.get("weights") else None
    metrics = run_benchmark(cfg, dataset, rerankers, out, fusion=fusion, selection=selection)
    if not main:
        return 0.0
    write_json(out / "metrics.json", metrics)
    log.info("run directory: %s", out)
    return float(metrics["systems"][first_reranked_system(metrics)].get("nDCG@10", 0.0))


# ----------------------------------------------------------------------------- distil a student


def distill(cfg: DictConfig) -> dict:
    """A shallower student of a train run's tuned model (configs/distill.yaml), benchmarked next to it."""
    from omegaconf import OmegaConf

    from rerankft.training.distill import distill_rows, shallow_copy, train_student
    from rerankft.training.losses import add_teacher_scores

    out = run_dir()
    if not cfg.run_dir:
        raise ConfigError("run_dir is required: python scripts/distill.py run_dir=outputs/train/<run> layers=3")
    run = Path(str(cfg.run_dir)).expanduser()
    teacher = run / "model"
    if not (run / "config.yaml").is_file() or not teacher.is_dir():
        raise ConfigError(f"run_dir={cfg.run_dir}: not a finished train run (needs config.yaml and model/)")
    # The run's own settings (data, dev carve, miner, adaptation, benchmark); this machine's cache.
    run_cfg = OmegaConf.merge(OmegaConf.load(run / "config.yaml"), {"cache_dir": cfg.cache_dir})
    dataset = load_from_config(run_cfg.data)
    write_run_info(out, cfg, dataset, seed=cfg.seed)
    train_qrels, _ = training_split(dataset, run_cfg)

    # 1. Rows: the run's mined (and pseudo-query) rows, graded by the teacher (raw logits).
    retriever = build_retriever(run_cfg.retriever, cache_dir=cfg.cache_dir)
    rows, counts = distill_rows(run_cfg, dataset, train_qrels, retriever, cfg)
    max_length = int(run_cfg.train.max_length)
    rows = add_teacher_scores(rows, {"name": str(teacher), "batch_size": 32}, max_length)

    # 2. The student: every other layer of the teacher, trained on the teacher's margins.
    student, kept = shallow_copy(teacher, int(cfg.layers), max_length)
    student_dir = run / f"student-L{int(cfg.layers)}"
    summary = {"teacher": str(teacher), "student": str(student_dir), "kept_layers": kept, "rows": counts,
               **train_student(student, rows, cfg, student_dir)}
    # Its openvino-int8 backend calibrates on the run's own pairs, as its teacher's does (not the demo's).
    pairs = model_calibration_pairs(str(teacher))
    if pairs:
        write_calibration_pairs(student_dir, pairs)
    write_json(out / "distill.json", summary)

    # 3. Student next to its teacher on the run's test split, on the candidates the run chose on dev.
    if cfg.benchmark:
        selection = read_fusion(str(run)) or {}
        rerankers = {"tuned": str(teacher), "student": str(student_dir)}
        chosen = {k: selection.get(k) for k in ("candidates", "signal_models")}  # hybrid-ft candidates need the run's bi-encoder
        metrics = run_benchmark(run_cfg, dataset, rerankers, out, selection=chosen)
        summary["test_ndcg@10"] = {s: v["nDCG@10"] for s, v in metrics["systems"].items() if s.split(">>")[-1] in rerankers}
        write_json(out / "distill.json", summary)
    log.info("run directory: %s", out)
    return summary


# ----------------------------------------------------------------------------- rerank a file


def rerank_file(cfg: DictConfig) -> dict:
    """Rerank a TREC run (texts from ``data``) or a candidates JSONL with one reranker; write the reranked run."""

    out = run_dir()
    src, fmt = _rerank_input(cfg)
    top_k = int(cfg.rerank.top_k)
    # Read and check the input before loading any model.
    dataset = None
    if fmt == "trec":
        run_in = read_trec_run(src)
        dataset = load_from_config(cfg.data, needs=())  # texts only
        missing = [q for q in run_in if q not in dataset.queries]
        if missing:
            raise DataError(f"{src}: query ids not in data set '{dataset.name}': {', '.join(missing[:5])}")
    else:
        items = read_candidates_jsonl(src)

    write_run_info(out, cfg, dataset)
    rr = Reranker.from_config(cfg.rerank, cache_dir=cfg.get("cache_dir"), model=cfg.reranker, device=cfg.get("device"),
                              show_progress=True)
    if fmt == "trec":
        run_out = rr.rerank_run(dataset, run_in, top_k=top_k, desc="rerank")
    else:
        run_out, texts = _rerank_candidates(rr, items, top_k)
        write_text(out / "reranked.jsonl", reranked_jsonl(items, run_out, texts))
    write_trec_run(run_out, out / "reranked.trec", tag=f"rerankft-{Path(str(cfg.reranker)).name}")
    summary = {"input": str(src), "format": fmt, "top_k": top_k, "queries": len(run_out),
               "reranker": rr.describe(), "stats": dict(rr.stats)}
    write_json(out / "rerank.json", summary)
    log.info("reranked %d queries (%d pairs, %.1f pairs/s) -> %s", len(run_out), rr.stats["pairs"],
             rr.stats["pairs_per_s"], out / "reranked.trec")
    rr.close()
    return summary


def _rerank_candidates(rr, items: list[dict], top_k: int) -> tuple[dict, dict[tuple[str, str], str]]:
    """Score candidate lists as :func:`rerankft.data.candidates.read_candidates_jsonl` reads them.

    Each item's first ``top_k`` documents (in input order) are scored; returns the run
    ``{qid: {doc id: score}}`` and the texts by ``(qid, doc id)``.
    """
    pairs, owners = [], []
    for it in items:
        for doc_id, text in list(zip(it["doc_ids"], it["texts"]))[:top_k]:
            pairs.append((it["query"], text))
            owners.append((it["qid"], doc_id, text))
    scores = rr.score(pairs, desc="rerank")
    run: dict = {it["qid"]: {} for it in items}
    texts: dict[tuple[str, str], str] = {}
    for (qid, doc_id, text), s in zip(owners, scores):
        run[qid][doc_id] = float(s)
        texts[qid, doc_id] = text
    return demote_empty_in_run(run, [(q, d) for q, d, _ in owners], [t for _, _, t in owners]), texts


def _rerank_input(cfg: DictConfig) -> tuple[Path, str]:
    """The input file and its format (trec | jsonl), checked before anything loads."""
    src = cfg.get("input")
    if not src:
        raise ConfigError("input is not set: input=<run.trec | candidates.jsonl>")
    src = Path(str(src)).expanduser()
    fmt = cfg.get("format", "auto")
    if fmt == "auto":
        fmt = "jsonl" if src.suffix.lower() in (".jsonl", ".json") else "trec"
    if fmt not in ("trec", "jsonl"):
        raise ConfigError(f"format={fmt!r}: use auto, trec or jsonl")
    if not cfg.get("reranker"):
        raise ConfigError("reranker is not set: reranker=<model folder | train run directory | hub id>")
    if int(cfg.rerank.top_k) < 1:
        raise ConfigError(f"rerank.top_k must be a positive integer, got {cfg.rerank.top_k}")
    if fmt == "trec" and cfg.get("data") is None:
        raise ConfigError(
            "a TREC run names documents by id, so rerankft needs their texts: add "
            "data=beir_local data.path=<BEIR folder with corpus.jsonl and queries.jsonl>"
        )
    return src, fmt


# ----------------------------------------------------------------------------- push


def push(cfg: DictConfig) -> dict:
    """Publish a finished train run to the Hugging Face Hub (or write the upload folder with hub.dry_run)."""
    return push_run(cfg)
