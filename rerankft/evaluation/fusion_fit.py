"""Choices made on dev queries: fusion weights, the candidates to rerank, and the final system.

Everything here runs on the dev queries carved from the training split, never on test:

* for each first stage in ``eval.first_stages`` (BM25, dense, hybrid), and where the run fine-tuned
  its bi-encoder (``bi_encoder=mnrl``) their twins with it (dense-ft, hybrid-ft), its top ``rerank.top_k``
  are reranked by the tuned model exactly as the benchmark will rerank the test queries';
* the fusion weights of ``(1 - sum w) * z(tuned) + w_bm25 * z(bm25) + w_dense * z(dense)`` are picked
  on the dev queries by ``rerank.fusion_fit`` (:func:`pick_weights`): tuned's share with BM25 and dense
  alike, bagged (``share_bagged``, the default), or the grid point with the best dev nDCG@10
  (``argmax``, least total weight wins ties), see :mod:`rerankft.scoring.fusion`;
  ``z(dense)`` is the run's fine-tuned bi-encoder's score where it trained one (``bi_encoder=mnrl``);
* the **final system** is the one with the best dev nDCG@10 among every first stage alone, the
  tuned reranker on each one's candidates and its fused variant (simpler systems win ties). The
  benchmark reports it as ``metrics.json["final"]`` and the report headlines it. A fused system
  competes with its K-fold cross-validated dev nDCG@10 (each dev query scored with weights fitted
  on the other folds), not with the maximum its own fit found on the same queries: on 10-30 dev
  queries that maximum flatters fusion, and the simpler systems it competes with fitted nothing.
  The dev maximum is final only where dev is clear: if it wins fewer than ``dev.min_stability``
  (0.7) of the bootstrap resamples of the dev queries, the final system is ``dev.prior``
  (hybrid>>tuned+fusion), named before any query is seen (:func:`choose_with_prior`).

Why our own grid search and not ranx's ``optimize_fusion``: ranx normalises over each run's whole
list and fills missing documents with zero, while the signals here are exact scores of the same
candidates; the search is 55 dev evaluations of a few dozen queries; and ranx compiles its
numba kernels on first use (tens of seconds on two cores).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple

from rerankft.core.metrics import evaluate_run, ndcg_at_10
from rerankft.core.runs import Run, ranked_ids
from rerankft.core.settings import select
from rerankft.core.systems import FUSED, competing, dev_pool, first_stage_of, is_reranked, system
from rerankft.data.dataset import dev_seed
from rerankft.evaluation.rerankers import (
    first_stage_names,
    make_reranker_factory,
    rerank_shared,
)
from rerankft.retrieval.factory import (
    SIGNALS,
    TUNED_SUFFIX,
    build_first_stage,
    build_signal,
    rerankable,
)
from rerankft.scoring.fusion import (
    FIT_RULES,
    GRID,
    alike_points,
    fit_rule,
    fuse,
    fuse_signals,
    weight_grid,
)

log = logging.getLogger("rerankft")

TUNED = "tuned"
CV_FOLDS = 5  # folds of the dev queries for the fused systems' cross-validated dev nDCG@10
BAGS = 50  # bootstrap resamples of the fitting queries for share_bagged
STABILITY_SAMPLES = 1000  # bootstrap resamples of the dev queries for the final choice's stability


def fit_weight(qrels, reranked: Run, first_stage: Run, grid=GRID) -> tuple[float, dict[float, float]]:
    """The grid weight with the best dev nDCG@10 (ties go to the smaller weight). Returns (weight, curve)."""
    curve = {float(w): ndcg_at_10(qrels, fuse(reranked, first_stage, float(w))) for w in grid}
    best = max(curve.values())
    weight = min(w for w, v in curve.items() if v >= best - 1e-12)
    return weight, curve


def fit_weights(qrels, reranked: Run, signals: dict[str, Run], step: float = 0.1) -> tuple[dict[str, float], float]:
    """The signal weights with the best dev nDCG@10 on a ``step`` grid (least total weight wins ties)."""
    grid, table = weight_table(qrels, reranked, signals, step)
    i = best_on(table, list(qrels))
    return grid[i], _mean(table, list(qrels), i)


def weight_table(qrels, reranked: Run, signals: dict[str, Run], step: float = 0.1) -> tuple[list[dict], dict[str, list[float]]]:
    """Every grid weight vector (least fusion first) and each query's nDCG@10 under each: ``(grid, {qid: [...]})``.

    One evaluation per grid point; fitting on any subset of the queries (a fold, the whole dev
    split) is then a sum over this table, so cross-validation costs nothing extra.
    """
    grid = weight_grid(list(signals), step=step)
    table: dict[str, list[float]] = {q: [] for q in qrels}
    for weights in grid:
        per_query = evaluate_run(qrels, fuse_signals(reranked, signals, weights), ["nDCG@10"])[1]["nDCG@10"]
        for q in table:
            table[q].append(per_query[q])
    return grid, table


def _mean(table: dict[str, list[float]], qids, i: int) -> float:
    return sum(table[q][i] for q in qids) / max(1, len(qids))


def best_on(table: dict[str, list[float]], qids) -> int:
    """The grid index with the best mean over ``qids``; the first (least fusion) among ties."""
    n = len(next(iter(table.values()), []))
    sums = [sum(table[q][i] for q in qids) for i in range(n)]
    best = max(sums, default=0.0)
    return next(i for i, v in enumerate(sums) if v >= best - 1e-9)


def pick_weights(grid: list[dict], table: dict[str, list[float]], qids, rule: str = "argmax", seed: int = 0) -> int:
    """The grid index the fusion uses, fitted on ``qids`` by ``rule`` (``rerank.fusion_fit``).

    ``argmax``: the grid point with the best mean (least fusion among ties): two numbers fitted,
    each signal's weight. ``share_bagged``: one number, tuned's share, the signals splitting the
    rest equally; picked by bagging (Breiman 1996): the best share on each of ``BAGS`` bootstrap
    resamples of ``qids``, averaged and snapped to the grid. Why: on 6-27 dev queries the argmax over
    55 points follows a few queries; held out on dev (``benchmarks/bench_fusion_select.py``, README
    "What to expect") the bagged share was ahead of it on Cranfield, CISI and the demo.
    """
    if rule == "argmax":
        return best_on(table, qids)
    if rule != "share_bagged":
        raise ValueError(f"unknown fusion fit rule {rule!r}: use one of {', '.join(FIT_RULES)}")
    alike = alike_points(grid)
    sub = {q: [table[q][i] for i in alike] for q in qids}
    qs, rng = list(qids), random.Random(seed)
    shares = [sum(grid[alike[best_on(sub, [rng.choice(qs) for _ in qs])]].values()) for _ in range(BAGS)]
    mean = sum(shares) / BAGS
    return min(alike, key=lambda i: (abs(sum(grid[i].values()) - mean), sum(grid[i].values())))


def weight_picker(cfg, grid: list[dict], table: dict[str, list[float]]):
    """``fit(qids) -> grid index``: the run's own rule (``rerank.fusion_fit``, seeded by the dev seed) on any
    subset of its dev queries. The dev fit uses it, and so does every benchmark that refits a run's
    fusion on some of its queries, so a replay scores the rule the run was made with."""
    rule, seed = fit_rule(cfg), dev_seed(cfg)

    def fit(qids):
        return pick_weights(grid, table, qids, rule, seed=seed)

    return fit


def held_out(table: dict[str, list[float]], folds: int = CV_FOLDS, seed: int = 0, fit=None) -> dict[str, float]:
    """Each query's dev nDCG@10 under the weights fitted on the *other* folds (K-fold); {} with < 2 queries.

    The fitted weights' own dev score is the best of 55 grid points on the same queries: on 10-30
    dev queries that maximum is optimistic, and a fused system would win the final choice over
    the simpler ones by the fit alone. These values are what the fit is worth on queries it did
    not see. ``fit(qids) -> grid index`` is the rule that picks the weights (default: :func:`best_on`).
    """
    fit = fit or (lambda qs: best_on(table, qs))
    qids = sorted(table)
    if len(qids) < 2:
        return {}
    random.Random(seed).shuffle(qids)
    k = min(folds, len(qids))
    out: dict[str, float] = {}
    for f in range(k):
        rest = [q for j, q in enumerate(qids) if j % k != f]  # the other folds
        best = fit(rest)
        out.update({q: table[q][best] for q in qids[f::k]})
    return out


def cross_validated(table: dict[str, list[float]], folds: int = CV_FOLDS, seed: int = 0) -> float | None:
    """Mean of :func:`held_out`: the fused system's K-fold cross-validated dev nDCG@10; None with < 2 queries."""
    values = held_out(table, folds, seed)
    return sum(values.values()) / len(values) if values else None


def final_stability(per_query: Mapping[str, Mapping[str, float]], samples: int = STABILITY_SAMPLES,
                    seed: int = 0) -> dict[str, float]:
    """Share of bootstrap resamples of the dev queries in which each system would be the final one.

    The final system is the dev maximum over 4-10 systems on 9-30 queries; when their differences
    are a query or two's worth, another draw of dev queries picks another system. Each resample
    draws as many queries with replacement and applies :func:`choose_final` to the same per-query
    values (fused systems: their held-out values), so a share near 1 says the choice is settled and
    a share near 1/number-of-systems says dev could not tell them apart. Our own loop: no
    library bootstraps an argmax with this tie rule. {} with fewer than 2 queries.
    """
    qids = sorted(next(iter(per_query.values()), {}))
    if len(qids) < 2:
        return {}
    rng, wins = random.Random(seed), Counter()
    for _ in range(samples):
        draw = [rng.choice(qids) for _ in qids]
        wins[choose_final({n: sum(v[q] for q in draw) / len(draw) for n, v in per_query.items()})] += 1
    return {n: round(c / samples, 3) for n, c in wins.most_common()}


def signal_runs(dataset, candidates: Run, retrievers: Mapping[str, object]) -> dict[str, Run]:
    """Each signal retriever's exact score of every candidate (whichever first stage retrieved it)."""
    pairs = [(q, d) for q, docs in candidates.items() for d in docs]
    out: dict[str, Run] = {}
    for name, retriever in retrievers.items():
        run: Run = {q: {} for q in candidates}
        for (q, d), s in zip(pairs, retriever.score_pairs(dataset, pairs)):
            run[q][d] = float(s)
        out[name] = run
    return out


def choose_final(dev: dict[str, float]) -> str:
    """The best system on dev; ties go to the simpler one (first stage < reranker < fused), then to the earlier."""

    def complexity(name: str) -> int:
        return 2 if name.endswith(FUSED) else 1 if is_reranked(name) else 0

    order = {name: i for i, name in enumerate(dev)}
    return min(dev, key=lambda n: (-round(dev[n], 10), complexity(n), order[n]))


@dataclass
class DevSystems:
    """Every system's dev nDCG@10 per query, and what the fused systems were fitted on.

    ``per_query[system][qid]``: first stages alone, tuned on each one's candidates, and each fused
    system at its held-out (cross-validated) value. ``tables[fused system]`` is its weight grid and
    per-query table (:func:`weight_table`), from which any subset of the queries refits it.
    """

    per_query: dict[str, dict[str, float]]
    tables: dict[str, tuple[list[dict], dict[str, list[float]]]]
    weights: dict[str, dict[str, float]]  # first stage -> the weights fitted on every dev query
    fitted: dict[str, float]  # fused system -> its in-sample dev nDCG@10 (optimistic: fitted on it)


def score_dev_systems(cfg, dataset, dev_qrels, model_dir, fusion: bool = True,
                      signal_models: Mapping[str, str] | None = None) -> DevSystems:
    """Rerank every first stage's dev candidates with ``model_dir`` and fit the fusion weights on them.

    ``signal_models`` ({"dense": <folder>}): a signal scored by its own model (the run's fine-tuned
    bi-encoder) instead of the first stage of that name; the candidates are the first stages' as always.
    """
    top_k = int(cfg.rerank.top_k)
    qids = sorted(dev_qrels)
    cache_dir = select(cfg, "cache_dir", None)
    signal_models = dict(signal_models or {})
    # Each retriever is built once: the BM25 and dense first stages are also the fusion signals (unless a signal has its own model).
    names = first_stage_names(cfg, signal_models)  # with a fine-tuned bi-encoder, dense-ft and hybrid-ft too
    # A signal with its own model is also that model's first stage (the fine-tuned dense signal is dense-ft): built once.
    own = {f"{n}{TUNED_SUFFIX}": build_signal(n, cfg, cache_dir, model) for n, model in signal_models.items()}
    retrievers = {n: own[n] if n in own else build_first_stage(n, cfg, cache_dir, signal_models)
                  for n in dict.fromkeys([*names, *(s for s in SIGNALS if s not in signal_models)])}
    signals = {n: own[f"{n}{TUNED_SUFFIX}"] if n in signal_models else retrievers[n] for n in SIGNALS}
    out = DevSystems({}, {}, {}, {})
    runs = {fs: retrievers[fs].retrieve(dataset, qids, k=top_k) for fs in names}
    out.per_query.update({fs: _per_query(dev_qrels, run) for fs, run in runs.items()})  # first stages alone first (tie order)
    # The first stages' top-k overlap (hybrid's are mostly BM25's and dense's): each (query, document)
    # pair of their union is scored once, in one call (split over the ranks of a launch), and every
    # first stage's reranking is read from those scores, with or without a score cache.
    union = {q: {d: 0.0 for run in runs.values() for d in ranked_ids(run.get(q, {}))[:top_k]} for q in qids}
    width = max((len(v) for v in union.values()), default=1)
    scored = {}
    for model, its_qids in models_by_query(model_dir, qids).items():  # one model, or (dev.folds) each query's fold model
        reranker = make_reranker_factory(cfg)(model)  # the benchmark's own settings
        scored.update(rerank_shared(reranker, dataset, union, max(1, width), its_qids, desc="dev candidates"))
        reranker.close()
    for fs in rerankable(runs):
        run = runs[fs]
        reranked = {q: {d: scored[q][d] for d in ranked_ids(run.get(q, {}))[:top_k]} for q in qids}
        out.per_query[system(fs, TUNED)] = _per_query(dev_qrels, reranked)
        fused = system(fs, TUNED) + FUSED
        if fusion:  # weights fitted on every dev query; the system competes with its cross-validated value
            grid, table = weight_table(dev_qrels, reranked, signal_runs(dataset, run, signals))
            fit = weight_picker(cfg, grid, table)
            i = fit(qids)
            out.tables[fused] = (grid, table)
            out.weights[fs], out.fitted[fused] = grid[i], _mean(table, qids, i)
            out.per_query[fused] = held_out(table, seed=dev_seed(cfg), fit=fit) or {q: table[q][i] for q in qids}
        log.info("dev %s: %s %.4f, tuned %.4f, fused %s cross-validated (%s fitted) with %s", fs, fs, _avg(out.per_query[fs]),
                 _avg(out.per_query[system(fs, TUNED)]), _avg(out.per_query.get(fused)), out.fitted.get(fused), out.weights.get(fs))
    return out


def models_by_query(model_dir, qids: list[str]) -> dict[str, list[str]]:
    """Which model scores which dev queries: ``model_dir`` is one folder for all of them, or (cross-fitting,
    ``dev.folds``) a mapping of each query id to the fold model that never trained on it."""
    if not isinstance(model_dir, Mapping):
        return {str(model_dir): list(qids)}
    missing = [q for q in qids if q not in model_dir]
    if missing:
        raise ValueError(f"no fold model for dev queries {missing[:5]}")
    out: dict[str, list[str]] = {}
    for q in qids:
        out.setdefault(str(model_dir[q]), []).append(q)
    return out


class FinalChoice(NamedTuple):
    system: str  # the final system
    dev_maximum: str  # the best system on dev (the final one unless the prior replaced it)
    stability: dict[str, float]  # share of bootstrap resamples of the dev queries each system wins
    why: str  # the reason, in words


def choose_with_prior(per_query: Mapping[str, Mapping[str, float]], prior: str | None, min_share: float,
                      seed: int = 0) -> FinalChoice:
    """The final system: the dev maximum where dev is clear, else the ``prior`` system named in advance.

    "Clear" means the maximum wins at least ``min_share`` of the bootstrap resamples of the dev
    queries (:func:`final_stability`). Why: with 9-30 dev queries the maximum over nine systems
    follows whichever system the drawn queries favour; in a nested leave-one-out over the dev
    queries (``benchmarks/bench_choice.py``) that argmax was worth less than a fixed system on the
    collections where dev could not separate the leaders, and as much as the best fixed system
    where it could. ``min_share`` 0
    (or no prior among the systems) is the plain dev maximum.
    """
    dev = {n: _avg(v) for n, v in per_query.items()}
    best = choose_final(dev)
    stability = final_stability(per_query, seed=seed)
    share = stability.get(best, 0.0)
    if prior and prior in dev and best != prior and stability and share < min_share:
        return FinalChoice(prior, best, stability, f"prior: the dev maximum {best} won only {share:.0%} of the "
                           f"resamples (< dev.min_stability {min_share:.0%}), so the system named in advance")
    return FinalChoice(best, best, stability, "dev maximum" + (f", won {share:.0%} of the resamples" if stability else ""))


def fit_fusion(cfg, dataset, dev_qrels, model_dir, fusion: bool = True, signal_models: Mapping[str, str] | None = None) -> dict | None:
    """Rerank every first stage's dev candidates with ``model_dir``; fit fusion weights; choose the final system.

    ``model_dir``: the tuned model's folder, or with cross-fitting (``dev.folds``) {dev query id: the
    folder of the fold model that did not train on it}, so every training query is a dev query.

    Returns what ``fusion.json`` holds (weights per first stage, dev nDCG@10 of every system, the
    chosen candidates and final system), or None without dev queries. ``fusion=False``
    (``rerank.fusion=false``) fits no weights: the choices are among first stages and tuned alone.
    """
    if not dev_qrels:
        log.warning("no dev queries: no fusion weights fitted and no final system chosen")
        return None
    qids = sorted(dev_qrels)
    signal_models = dict(signal_models or {}) if fusion else {}  # none with dev.folds (config refuses bi_encoder=mnrl)
    scored = score_dev_systems(cfg, dataset, dev_qrels, model_dir, fusion, signal_models)
    dev = {n: _avg(v) for n, v in scored.per_query.items()}
    prior = prior_for_run(select(cfg, "dev.prior", None), fusion)
    min_share = float(select(cfg, "dev.min_stability", 0.0) or 0.0)  # 0.7 by default: configs/train.yaml
    pool = dev_pool(cfg)
    competitors = {n: scored.per_query[n] for n in competing(scored.per_query, pool, keep=[prior])}
    final, best, stability, why = choose_with_prior(competitors, prior, min_share, seed=dev_seed(cfg))
    tuned_systems = {n: v for n, v in dev.items() if is_reranked(n)}
    # The candidates tuned reranks: the final system's own where it reranks, else those of the best tuned system.
    candidates = first_stage_of(final if is_reranked(final) else choose_final(tuned_systems))
    log.info("final system chosen on %d dev queries: %s (dev nDCG@10 %.4f; %s); tuned reranks %s's candidates",
             len(qids), final, dev[final], why, candidates)
    return {
        "method": "(1 - sum w) * z(tuned) + sum w_s * z(signal s), z-scores per query over the top-k candidates",
        "signals": list(SIGNALS) if fusion else [],
        "signal_models": {n: _relative_to(p, Path(model_dir).parent) for n, p in signal_models.items()},
        "weights": scored.weights,
        "fit_rule": fit_rule(cfg) if fusion else None,
        "dev_queries": len(qids),
        "dev_folds": len(set(map(str, model_dir.values()))) if isinstance(model_dir, Mapping) else None,  # dev.folds: cross-fitted
        "top_k": int(cfg.rerank.top_k),
        "dev_ndcg@10": {n: round(v, 6) for n, v in dev.items()},
        "dev_ndcg@10_fitted": {n: round(v, 6) for n, v in scored.fitted.items()},
        "selection": (f"fused systems compete with their {CV_FOLDS}-fold cross-validated dev nDCG@10 (each dev query "
                      "scored with weights fitted on the other folds); their weights are then fitted on every dev query"),
        "final": final,
        "final_rule": {"prior": prior, "min_stability": min_share, "pool": pool, "dev_maximum": best, "why": why},
        "final_stability": {"resamples": STABILITY_SAMPLES, "share": stability},
        "candidates": candidates,
    }


def _relative_to(path, folder: Path) -> str:
    p = Path(path)
    try:
        return str(p.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(p)


def prior_for_run(name, fusion: bool) -> str | None:
    """``dev.prior`` as a system of this run: its fused variant only where fusion is fitted."""
    if not name:
        return None
    name = str(name)
    return name if fusion or not name.endswith(FUSED) else name[: -len(FUSED)]


def _per_query(qrels, run: Run) -> dict[str, float]:
    return evaluate_run(qrels, run, ["nDCG@10"])[1]["nDCG@10"]


def _avg(values: Mapping[str, float] | None) -> float | None:
    return sum(values.values()) / len(values) if values else None
