"""Hard-negative mining for the training split, from the first stage's ranking.

Why our own loop instead of ``sentence_transformers.util.mine_hard_negatives``: that function works
on (anchor, positive) rows and only knows each row's own positive, so the other judged positives of
the same query come back as "negatives"; with several positives per query it also emits every
positive but only ``num_negatives`` negatives per unique query, so the class ratio is not what
``pos_weight`` assumes. Post-filtering its output could remove the wrong negatives but not add the
missing ones. Our retriever already returns a ranked list per query (with a cache), so the loop is
short: for each judged positive of a query, take the ranks [range_min, range_max), drop every
document judged relevant for that query in any split, drop candidates within a margin of that
positive's score (and above ``max_score``, and those a cross-encoder finds relevant), sample, and
add easy negatives from outside the window. The margin rule (``pos - |pos| * relative_margin``,
``pos - absolute_margin``) is the same as sentence-transformers'.

Counting: every (positive, window candidate) evaluation lands in exactly one bucket of
``report["candidates"]`` (judged_positive, margin, max_score, denoise, kept), so the buckets add up
to ``window_candidates``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from rerankft.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

FORMATS = ("pairs", "ntuples", "lists", "distill")


@dataclass
class MinedRow:
    """One judged positive of a training query with its mined negatives (hard first, then easy)."""

    qid: str
    positive: str
    grade: int
    positive_score: float
    negatives: list[str]
    negative_scores: list[float]
    n_hard: int


@dataclass
class MiningResult:
    dataset: object
    rows: list[MinedRow]
    report: dict = field(default_factory=dict)
    negatives_per_row: int = 0  # the target: num_negatives + num_random_negatives

    def to_dataset(self, fmt: str, num_negatives: int | None = None):
        """The mined data in the shape a loss needs.

        pairs:   (query, passage, label 0.0/1.0); each positive once, each distinct negative of the
                 query once. Negatives/positives is reported as report["class_balance"].
        ntuples: (query, positive, negative_1..negative_N); rows with fewer than N negatives are dropped.
        lists:   (query, docs, labels) per query: positives with their graded labels, then negatives (0.0).
        distill: (query, positive, negative), one row per (positive, negative); teacher scores come later.
        ``num_negatives`` caps negatives per positive (pairs, ntuples, distill) or per list (lists).
        """
        import datasets

        if fmt not in FORMATS:
            raise ConfigError(f"unknown mined-data format {fmt!r}: use one of {', '.join(FORMATS)}")
        ds = self.dataset
        if fmt == "pairs":
            return datasets.Dataset.from_dict(_pairs(self.rows, ds, num_negatives))
        if fmt == "distill":
            cols = {"query": [], "positive": [], "negative": []}
            for r in self.rows:
                for n in r.negatives[:num_negatives]:
                    cols["query"].append(ds.queries[r.qid])
                    cols["positive"].append(ds.doc_text(r.positive))
                    cols["negative"].append(ds.doc_text(n))
            return datasets.Dataset.from_dict(cols)
        if fmt == "ntuples":
            n_neg = num_negatives or self.negatives_per_row
            if n_neg <= 0:
                raise ConfigError("ntuples need at least one negative per positive: set miner.num_negatives or miner.num_random_negatives > 0")
            cols = {"query": [], "positive": [], **{f"negative_{i + 1}": [] for i in range(n_neg)}}
            dropped = 0
            for r in self.rows:
                if len(r.negatives) < n_neg:
                    dropped += 1
                    continue
                cols["query"].append(ds.queries[r.qid])
                cols["positive"].append(ds.doc_text(r.positive))
                for i, n in enumerate(r.negatives[:n_neg]):
                    cols[f"negative_{i + 1}"].append(ds.doc_text(n))
            if dropped:
                log.warning("ntuples: dropped %d of %d rows with fewer than %d negatives", dropped, len(self.rows), n_neg)
            return datasets.Dataset.from_dict(cols)
        # lists
        cols = {"query": [], "docs": [], "labels": []}
        for qid, rows in _by_query(self.rows).items():
            docs = [r.positive for r in rows]
            labels = [float(r.grade) for r in rows]
            negs = list(dict.fromkeys(n for r in rows for n in r.negatives))[:num_negatives]
            cols["query"].append(ds.queries[qid])
            cols["docs"].append([ds.doc_text(d) for d in docs + negs])
            cols["labels"].append(labels + [0.0] * len(negs))
        return datasets.Dataset.from_dict(cols)


# ----------------------------------------------------------------------------- helpers


def _by_query(rows: list[MinedRow]) -> dict[str, list[MinedRow]]:
    out: dict[str, list[MinedRow]] = {}
    for r in rows:
        out.setdefault(r.qid, []).append(r)
    return out


def _pairs(rows: list[MinedRow], ds, num_negatives: int | None) -> dict:
    cols = {"query": [], "passage": [], "label": []}
    for qid, q_rows in _by_query(rows).items():
        seen: set[str] = set()
        for r in q_rows:
            if r.positive not in seen:
                seen.add(r.positive)
                cols["query"].append(ds.queries[qid])
                cols["passage"].append(ds.doc_text(r.positive))
                cols["label"].append(1.0)
        for r in q_rows:
            for n in r.negatives[:num_negatives]:
                if n not in seen:
                    seen.add(n)
                    cols["query"].append(ds.queries[qid])
                    cols["passage"].append(ds.doc_text(n))
                    cols["label"].append(0.0)
    return cols


def _get(cfg, key: str, default=None):
    value = cfg.get(key, default) if cfg is not None else default
    return default if value is None else value


def _int(cfg, key: str, default: int, minimum: int = 0) -> int:
    value = _get(cfg, key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"miner.{key}={value!r} is invalid: expected an integer >= {minimum}")
    return value


def _opt_float(cfg, key: str) -> float | None:
    value = cfg.get(key) if cfg is not None else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"miner.{key}={value!r} is invalid: expected a number or null")
    if key.endswith("margin") and value < 0:
        raise ConfigError(f"miner.{key}={value!r} is invalid: a margin must be >= 0 (null disables it)")
    return float(value)


def _dist(values) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return {"n": 0}
    q = np.quantile(v, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {"n": int(len(v)), "mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4), "min": round(float(v.min()), 4),
            "q10": round(float(q[0]), 4), "q25": round(float(q[1]), 4), "median": round(float(q[2]), 4),
            "q75": round(float(q[3]), 4), "q90": round(float(q[4]), 4), "max": round(float(v.max()), 4)}


def _min_med_max(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "median": 0, "max": 0, "total": 0}
    return {"min": int(min(values)), "median": float(np.median(values)), "max": int(max(values)), "total": int(sum(values))}


def judged_positives(dataset, train_qrels, qid: str) -> set[str]:
    """Every document judged relevant (grade > 0) for ``qid`` in the training qrels or any split of the data set."""
    out = {d for d, g in train_qrels.get(qid, {}).items() if g > 0}
    for split in dataset.qrels.values():
        out.update(d for d, g in split.get(qid, {}).items() if g > 0)
    return out


class _Denoiser:
    """Re-scores candidates with a cross-encoder; a candidate it scores >= threshold is a suspected positive."""

    def __init__(self, cfg):
        from sentence_transformers import CrossEncoder

        from rerankft.models import resolve_model_name

        self.name = str(cfg.get("model"))
        self.threshold = float(_get(cfg, "threshold", 0.9))
        try:
            self.model = CrossEncoder(resolve_model_name(self.name), max_length=int(_get(cfg, "max_length", 256)))
        except ModelError:
            raise
        except Exception as e:  # noqa: BLE001 - any load failure is a model the user named
            raise ModelError(f"miner.denoise.model={self.name!r} could not be loaded as a cross-encoder ({type(e).__name__}: {e})") from e
        self.batch_size = int(_get(cfg, "batch_size", 32))
        self.pairs_scored = 0

    def scores(self, query: str, docs: list[str]) -> np.ndarray:
        if not docs:
            return np.zeros(0)
        self.pairs_scored += len(docs)
        # predict() applies the model's own activation (sigmoid for a 1-logit reranker), so the
        # threshold is a probability for standard rerankers.
        return np.asarray(self.model.predict([(query, d) for d in docs], batch_size=self.batch_size, show_progress_bar=False), dtype=np.float64)


# ----------------------------------------------------------------------------- mining


def mine_hard_negatives(dataset, train_qrels, retriever, cfg_miner) -> MiningResult:
    """Mine negatives for every judged positive of every training query. See the module docstring."""
    range_min = _int(cfg_miner, "range_min", 10)
    range_max = _int(cfg_miner, "range_max", 100, minimum=1)
    if range_max <= range_min:
        raise ConfigError(f"miner.range_max={range_max} must be greater than miner.range_min={range_min}")
    num_negatives = _int(cfg_miner, "num_negatives", 4)
    num_random = _int(cfg_miner, "num_random_negatives", 1)
    fill = bool(_get(cfg_miner, "fill_with_random", True))
    strategy = _get(cfg_miner, "sampling_strategy", "random")
    if strategy not in ("top", "random"):
        raise ConfigError(f"miner.sampling_strategy={strategy!r} is unknown: use top or random")
    rel_margin = _opt_float(cfg_miner, "relative_margin")
    abs_margin = _opt_float(cfg_miner, "absolute_margin")
    max_score = _opt_float(cfg_miner, "max_score")
    seed = int(_get(cfg_miner, "seed", 0))
    denoise_cfg = cfg_miner.get("denoise") if cfg_miner is not None else None
    denoiser = _Denoiser(denoise_cfg) if denoise_cfg is not None and denoise_cfg.get("model") else None
    rng = np.random.default_rng(seed)

    qids = sorted(q for q, judged in train_qrels.items() if any(g > 0 for g in judged.values()))
    skipped_queries = len(train_qrels) - len(qids)
    run = retriever.retrieve(dataset, qids, k=range_max)
    all_ids = sorted(dataset.corpus)

    positives = {q: sorted(((d, g) for d, g in train_qrels[q].items() if g > 0), key=lambda x: (-x[1], x[0])) for q in qids}
    pos_pairs = [(q, d) for q in qids for d, _ in positives[q]]
    pos_scores = dict(zip(pos_pairs, retriever.score_pairs(dataset, pos_pairs).tolist()))

    def threshold(ps: float) -> float:
        """Highest score a negative may have for a positive scoring ``ps`` (inf: no margin applies)."""
        t = np.inf
        if ps is None or not np.isfinite(ps):
            return t
        if rel_margin is not None:
            t = min(t, ps - abs(ps) * rel_margin)
        if abs_margin is not None:
            t = min(t, ps - abs_margin)
        return t

    counts = {"judged_positive": 0, "margin": 0, "max_score": 0, "denoise": 0, "kept": 0}
    random_stats = {"drawn": 0, "rejected_margin_or_max_score": 0}
    rows: list[MinedRow] = []
    positives_in_skipped_top = 0
    positives_without_score = 0
    for qid in qids:
        ranking = sorted(run.get(qid, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        window = ranking[range_min:range_max]
        top_ids = {d for d, _ in ranking[:range_max]}
        judged = judged_positives(dataset, train_qrels, qid)
        positives_in_skipped_top += sum(1 for d, _ in ranking[:range_min] if d in judged)

        # Pass 1: the cheap filters, per positive. Pass 2 (denoise) scores each surviving
        # candidate of the query once, however many positives it survived for.
        survivors: dict[str, list[tuple[str, float]]] = {}
        for pos, _ in positives[qid]:
            ps = pos_scores[qid, pos]
            if not np.isfinite(ps):
                positives_without_score += 1
            t = threshold(ps)
            keep = []
            for doc, s in window:
                if doc in judged:
                    counts["judged_positive"] += 1
                elif s > t:
                    counts["margin"] += 1
                elif max_score is not None and s > max_score:
                    counts["max_score"] += 1
                else:
                    keep.append((doc, s))
            survivors[pos] = keep
        if denoiser is not None:
            cand = sorted({d for keep in survivors.values() for d, _ in keep})
            ce = dict(zip(cand, denoiser.scores(dataset.queries[qid], [dataset.doc_text(d) for d in cand])))
            for pos, keep in survivors.items():
                survivors[pos] = [(d, s) for d, s in keep if ce[d] < denoiser.threshold]
                counts["denoise"] += len(keep) - len(survivors[pos])

        used: set[str] = set()
        for pos, grade in positives[qid]:
            keep = survivors[pos]
            counts["kept"] += len(keep)
            # Prefer candidates no other positive of this query took, so the pairs format (which
            # lists each (query, passage) once) keeps the intended negatives/positives ratio.
            fresh = [x for x in keep if x[0] not in used]
            stale = [x for x in keep if x[0] in used]
            if strategy == "top":
                hard = (fresh + stale)[:num_negatives]
            else:
                pick = [fresh[i] for i in sorted(rng.choice(len(fresh), min(num_negatives, len(fresh)), replace=False))]
                rest = num_negatives - len(pick)
                if rest > 0 and stale:
                    pick += [stale[i] for i in sorted(rng.choice(len(stale), min(rest, len(stale)), replace=False))]
                hard = pick
            used.update(d for d, _ in hard)
            n_easy = num_random + ((num_negatives - len(hard)) if fill else 0)
            easy = _draw_easy(dataset, retriever, qid, n_easy, all_ids, judged | top_ids | used, threshold(pos_scores[qid, pos]),
                              max_score, rng, random_stats)
            used.update(d for d, _ in easy)
            chosen = hard + easy
            rows.append(MinedRow(qid, pos, int(grade), float(pos_scores[qid, pos]), [d for d, _ in chosen],
                                 [float(s) for _, s in chosen], len(hard)))

    result = MiningResult(dataset, rows, negatives_per_row=num_negatives + num_random)
    result.report = _report(result, retriever, cfg_miner, qids, skipped_queries, counts, random_stats, num_negatives, num_random,
                            positives_in_skipped_top, positives_without_score, denoiser, range_min, range_max)
    return result


def _draw_easy(dataset, retriever, qid, n, all_ids, exclude, thr, max_score, rng, stats) -> list[tuple[str, float]]:
    """Random negatives from outside the candidate window (never judged relevant), checked against
    the same margin / max_score as hard ones: an easy negative must not be a likely positive either."""
    out: list[tuple[str, float]] = []
    if n <= 0:
        return out
    taken = set(exclude)
    # A few rounds of cheap random draws; if the eligible documents are rare (small corpus, strict
    # margin), scan a random permutation of the whole corpus so they are still found when they exist.
    rounds: list = [None] * 5 + (["scan"] if len(all_ids) <= 200_000 else [])
    for kind in rounds:
        need = n - len(out)
        if kind == "scan":
            draw = [all_ids[i] for i in rng.permutation(len(all_ids))]
        else:
            draw = [all_ids[i] for i in rng.choice(len(all_ids), min(len(all_ids), 4 * need + 4), replace=False)]
        draw = [d for d in draw if d not in taken]
        for start in range(0, len(draw), 4096):  # bounded scoring batches, also for the full scan
            chunk = draw[start : start + 4096]
            scores = retriever.score_pairs(dataset, [(qid, d) for d in chunk])
            stats["drawn"] += len(chunk)
            for d, s in zip(chunk, scores.tolist()):
                taken.add(d)
                if np.isfinite(s) and (s > thr or (max_score is not None and s > max_score)):
                    stats["rejected_margin_or_max_score"] += 1
                    continue
                out.append((d, float(s)))
                if len(out) == n:
                    return out
    return out


def _report(result, retriever, cfg_miner, qids, skipped_queries, counts, random_stats, num_negatives, num_random,
            positives_in_skipped_top, positives_without_score, denoiser, range_min, range_max) -> dict:
    rows = result.rows
    by_q = _by_query(rows)
    per_query = [len({n for r in rs for n in r.negatives}) for rs in by_q.values()]
    per_query += [0] * (len(qids) - len(by_q))
    per_pos = [len(r.negatives) for r in rows]
    few_hard = sorted(q for q, rs in by_q.items() if any(r.n_hard < num_negatives for r in rs))
    few_total = sorted(q for q, rs in by_q.items() if any(len(r.negatives) < num_negatives + num_random for r in rs))
    pairs = _pairs(rows, result.dataset, None)
    n_pos = sum(1 for x in pairs["label"] if x == 1.0)
    n_neg = len(pairs["label"]) - n_pos
    hard_scores = [s for r in rows for s in r.negative_scores[: r.n_hard]]
    easy_scores = [s for r in rows for s in r.negative_scores[r.n_hard :]]
    scores = {
        "scorer": retriever.name,
        "positive": _dist([r.positive_score for r in rows]),
        "hard_negative": _dist(hard_scores),
        "random_negative": _dist(easy_scores),
    }
    # Paired view: the pooled means above can also differ because low-scoring positives get no hard
    # negatives at all (the margin removes them), so also say how negatives compare to their OWN positive.
    paired = [(r.positive_score, s) for r in rows for s in r.negative_scores[: r.n_hard] if np.isfinite(r.positive_score)]
    above = sum(1 for p, s in paired if s >= p)
    scores["hard_negatives_at_or_above_own_positive"] = {"count": above, "fraction": round(above / len(paired), 4) if paired else None}
    scores["mean_gap_own_positive_minus_hard_negative"] = round(float(np.mean([p - s for p, s in paired])), 4) if paired else None
    warnings = []
    pm, hm = scores["positive"].get("mean"), scores["hard_negative"].get("mean")
    if pm is not None and hm is not None and hm >= pm:
        msg = (f"mined hard negatives score higher than the judged positives on average ({hm:.3f} >= {pm:.3f}, {retriever.name} scores; "
               f"{above} of {len(paired)} score at or above their own positive): if that count is high, many are probably unjudged "
               "relevant documents: raise miner.range_min, set miner.relative_margin, or use miner.denoise.model. If it is 0, the gap "
               "comes from low-scoring positives that the margin left without hard negatives")
        log.warning(msg)
        warnings.append(msg)
    if few_total:
        log.warning("mining: %d of %d queries have a positive with fewer than %d negatives", len(few_total), len(qids), num_negatives + num_random)
    cfg_dump = cfg_miner
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(cfg_miner):
            cfg_dump = OmegaConf.to_container(cfg_miner, resolve=True)
    except Exception:  # noqa: BLE001 - a report should never fail on its config echo
        cfg_dump = dict(cfg_miner or {})
    window_candidates = sum(counts.values())
    return {
        "retriever": retriever.describe(),
        "miner": cfg_dump,
        "window": [range_min, range_max],
        "queries": len(qids),
        "queries_skipped_without_positive": skipped_queries,
        "positives": len(rows),
        "positives_in_skipped_top_ranks": positives_in_skipped_top,
        "positives_without_first_stage_score": positives_without_score,
        "candidates": {"window_candidates": window_candidates, "removed": {k: counts[k] for k in ("judged_positive", "margin", "max_score", "denoise")},
                       "kept": counts["kept"], "note": "one evaluation per (positive, window candidate); removed + kept = window_candidates"},
        "negatives": {
            "hard": sum(r.n_hard for r in rows),
            "random": sum(len(r.negatives) - r.n_hard for r in rows),
            "per_query": _min_med_max(per_query),
            "per_positive": _min_med_max(per_pos),
            "target_per_positive": num_negatives + num_random,
        },
        "random_negatives": random_stats,
        "denoise": {"model": denoiser.name, "threshold": denoiser.threshold, "pairs_scored": denoiser.pairs_scored} if denoiser else None,
        "queries_with_too_few_hard_negatives": {"count": len(few_hard), "examples": few_hard[:20]},
        "queries_with_too_few_negatives": {"count": len(few_total), "examples": few_total[:20]},
        "class_balance": {"format": "pairs", "positives": n_pos, "negatives": n_neg, "negatives_per_positive": round(n_neg / n_pos, 4) if n_pos else None},
        "scores": scores,
        "warnings": warnings,
    }
