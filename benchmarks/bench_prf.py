"""Dev-only: pseudo-relevance feedback on the dense signal, led by the first stage or by the tuned model.

    python benchmarks/bench_prf.py outputs/train/<run> [<run> ...] [--fb 3,5] [--beta 0.5,1.0] [--tuned-space]
    python benchmarks/bench_prf.py outputs/train/<run> --baseline       # prf-hybrid as a first stage on test

Rocchio on the bi-encoder's vectors (Li et al. 2021, "Pseudo Relevance Feedback with Deep Language
Models and Dense Retrievers"): q' = normalise(q + beta * mean of the top ``fb`` passages' vectors),
and every candidate is scored by cos(q', d). Who picks the feedback passages is the question:

- ``prf-hybrid``: the hybrid first stage's top passages. No training: a first stage of its own, the
  baseline a tuned system has to beat.
- ``prf-tuned``: the tuned model's top passages among hybrid's candidates: the tuned model's
  precision at the top, passed back to the bi-encoder's whole candidate list.

Each is reported alone, and as one more fusion signal beside BM25 and dense (weights fitted on dev,
at their 5-fold cross-validated value, as the final choice sees fused systems). The tuned model's
scores come from the score cache (the run's own). No test query is read.

``--tuned-space``: Rocchio in the tuned model's own space too: its encoder weights used as a
bi-encoder (mean pooling; with its gate nearly shut the tuned model is close to one), feedback
from the hybrid's top passages, alone and as the fusion's dense signal.

``--baseline``: prf-hybrid as a zero-training first stage. Its two settings (``fb``, ``beta``) are
chosen on every judged training query (it trains nothing, so all of them are fair to choose on),
then it is scored once on the test split beside the hybrid it starts from (paired randomization p):
a comparison a user could run instead of fine-tuning, not a choice of anything in the recipe.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench_fusion import dev_candidates, fused_cv, score_union, tuned_on
from omegaconf import OmegaConf

from rerankft.core.metrics import evaluate_run, ndcg_at_10
from rerankft.core.runs import ranked_ids
from rerankft.data.dataset import training_split
from rerankft.data.loading import load_from_config
from rerankft.evaluation.stats import paired_randomization_test
from rerankft.retrieval.dense import DenseRetriever
from rerankft.retrieval.factory import build_first_stage
from rerankft.retrieval.hybrid import rrf
from rerankft.retrieval.prf import feedback_vector


def rocchio(dense, dataset, candidates: dict, leader: dict, fb: int, beta: float) -> dict:
    """cos(q', d) over each query's candidates, q' = q + beta * mean(top-``fb`` of ``leader``)."""
    _, emb, index = dense.corpus_embeddings(dataset)
    qids = sorted(candidates)
    qv = dense.query_embeddings(dataset, qids)
    out = {}
    for q, v in zip(qids, qv):
        new = feedback_vector(v, emb[[index[d] for d in ranked_ids(leader[q])[:fb]]], beta)
        docs = list(candidates[q])
        out[q] = {d: float(s) for d, s in zip(docs, emb[[index[d] for d in docs]] @ new)}
    return out


def prf_rows(run: Path, fbs: list[int], betas: list[float], tuned_space: bool = False) -> list[tuple[str, float]]:
    cfg = OmegaConf.load(run / "config.yaml")
    dataset = load_from_config(cfg.data)
    _, dev = training_split(dataset, cfg)
    firsts, union, signals = dev_candidates(cfg, dataset, dev)
    top_k = int(cfg.rerank.top_k)
    scores = score_union(run, cfg, dataset, union)
    dense = build_first_stage("dense", cfg, cfg.cache_dir)
    hyb = firsts["hybrid"]
    tuned = tuned_on(scores, hyb, top_k)
    sig = signals["hybrid"]
    rows = [("hybrid", ndcg_at_10(dev, hyb)), ("dense (on hybrid's candidates)", ndcg_at_10(dev, sig["dense"])),
            ("hybrid>>tuned", ndcg_at_10(dev, tuned)), ("hybrid>>tuned+fusion (CV)", fused_cv(dev, tuned, sig, cfg))]
    for fb in fbs:
        for beta in betas:
            p_h = rocchio(dense, dataset, hyb, hyb, fb, beta)
            p_t = rocchio(dense, dataset, hyb, tuned, fb, beta)
            tag = f"fb={fb} beta={beta}"
            rows += [
                (f"prf-hybrid alone, {tag}", ndcg_at_10(dev, p_h)),
                (f"rrf(bm25, prf-hybrid), {tag} (no training)", ndcg_at_10(dev, rrf([sig["bm25"], p_h], k=60))),
                (f"tuned+fusion with prf-hybrid (CV), {tag}", fused_cv(dev, tuned, {**sig, "prf": p_h}, cfg)),
                (f"tuned+fusion, dense -> prf-hybrid (CV), {tag}", fused_cv(dev, tuned, {"bm25": sig["bm25"], "prf": p_h}, cfg)),
                (f"prf-tuned alone, {tag}", ndcg_at_10(dev, p_t)),
                (f"tuned+fusion with prf-tuned (CV), {tag}", fused_cv(dev, tuned, {**sig, "prf": p_t}, cfg)),
                (f"tuned+fusion, dense -> prf-tuned (CV), {tag}", fused_cv(dev, tuned, {"bm25": sig["bm25"], "prf": p_t}, cfg)),
            ]
    if tuned_space:
        with tempfile.TemporaryDirectory(prefix="rerankft-tuned-bi-") as tmp:
            space = DenseRetriever({"name": tuned_as_bi_encoder(run / "model", Path(tmp) / "bi")}, cache_dir=None)
            rows.append(("the tuned weights as a bi-encoder (on hybrid's candidates)", ndcg_at_10(dev, rocchio(space, dataset, hyb, hyb, 0, 0.0))))
            for fb in fbs:
                for beta in betas:
                    p_s = rocchio(space, dataset, hyb, hyb, fb, beta)
                    rows += [(f"prf in the tuned space alone, fb={fb} beta={beta}", ndcg_at_10(dev, p_s)),
                             (f"tuned+fusion, dense -> prf in the tuned space (CV), fb={fb} beta={beta}",
                              fused_cv(dev, tuned, {"bm25": sig["bm25"], "prf": p_s}, cfg))]
    return rows


def tuned_as_bi_encoder(model_dir: Path, out: Path) -> str:
    """The tuned model's encoder weights as a bi-encoder (mean pooling, normalised, 256 tokens): with
    its gate nearly shut the tuned model is close to one, so Rocchio can work in its own space."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    body = Transformer(str(model_dir), max_seq_length=256)
    pooling = Pooling(body.get_word_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[body, pooling, Normalize()]).save(str(out))
    return str(out)


def _per_query(qrels, run) -> dict[str, float]:
    return evaluate_run(qrels, run, ["nDCG@10"])[1]["nDCG@10"]


def baseline_rows(run: Path, fbs: list[int], betas: list[float]) -> list[tuple[str, float, str]]:
    """prf-hybrid's settings chosen on the training queries, then hybrid and prf-hybrid on test."""
    cfg = OmegaConf.load(run / "config.yaml")
    dataset = load_from_config(cfg.data)
    stages = {n: build_first_stage(n, cfg, cfg.cache_dir) for n in ("dense", "hybrid")}
    rows, settings = [], [(fb, beta) for fb in fbs for beta in betas]
    for split in (cfg.data.splits.train, cfg.eval.split):
        qrels = {q: j for q, j in dataset.split(split).items() if any(g > 0 for g in j.values())}
        qids = sorted(qrels)
        hyb = stages["hybrid"].retrieve(dataset, qids, k=int(cfg.rerank.top_k))
        base = _per_query(qrels, hyb)
        mean = sum(base.values()) / len(base)
        rows.append((f"{split} ({len(qids)} q): hybrid", mean, ""))
        found = []
        for fb, beta in settings:
            prf = _per_query(qrels, rocchio(stages["dense"], dataset, hyb, hyb, fb, beta))
            value = sum(prf.values()) / len(prf)
            p = paired_randomization_test([prf[q] for q in qids], [base[q] for q in qids])
            rows.append((f"{split}: prf-hybrid fb={fb} beta={beta}", value, f"{value - mean:+.4f} (p = {p:.3f})"))
            found.append((value, (fb, beta)))
        settings = [max(found)[1]]  # the training queries' best setting is the one test sees
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished train run directories (config.yaml, model/)")
    ap.add_argument("--fb", default="3", help="feedback passages, comma-separated")
    ap.add_argument("--beta", default="1.0", help="feedback weights, comma-separated")
    ap.add_argument("--tuned-space", action="store_true", help="also Rocchio in the tuned model's own space (its weights as a bi-encoder)")
    ap.add_argument("--baseline", action="store_true", help="prf-hybrid as a first stage: settings chosen on training queries, scored on test")
    args = ap.parse_args(argv)
    fbs = [int(x) for x in args.fb.split(",")]
    betas = [float(x) for x in args.beta.split(",")]
    if args.baseline:
        for run in args.runs:
            print(f"\n{run}\n| first stage | nDCG@10 | vs hybrid (paired p) |\n|---|---|---|")
            for name, value, note in baseline_rows(run, fbs, betas):
                print(f"| {name} | {value:.4f} | {note} |", flush=True)
        return 0
    for run in args.runs:
        print(f"\n{run}\n| system (dev, hybrid's top k) | nDCG@10 |\n|---|---|")
        for name, value in prf_rows(run, fbs, betas, tuned_space=args.tuned_space):
            print(f"| {name} | {value:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
