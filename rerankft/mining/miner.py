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
from dataclasses import dataclass

import numpy as np

from rerankft.core.errors import ConfigError, ModelError
from rerankft.core.runs import ranked_ids
from rerankft.core.settings import select
from rerankft.mining.report import _report
from rerankft.mining.rows import MinedRow, MiningResult
from rerankft.modeling.names import resolve_model_name

log = logging.getLogger(__name__)


def _int(cfg, key: str, default: int, minimum: int = 0) -> int:
    value = select(cfg, key, default)
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


        self.name = str(cfg.get("model"))
        self.threshold = float(select(cfg, "threshold", 0.9))
        try:
            self.model = CrossEncoder(resolve_model_name(self.name), max_length=int(select(cfg, "max_length", 256)))
        except ModelError:
            raise
        except Exception as e:  # noqa: BLE001 - any load failure is a model the user named
            raise ModelError(f"miner.denoise.model={self.name!r} could not be loaded as a cross-encoder ({type(e).__name__}: {e})") from e
        self.batch_size = int(select(cfg, "batch_size", 32))
        self.pairs_scored = 0

    def scores(self, query: str, docs: list[str]) -> np.ndarray:
        if not docs:
            return np.zeros(0)
        self.pairs_scored += len(docs)
        # predict() applies the model's own activation (sigmoid for a 1-logit reranker), so the
        # threshold is a probability for standard rerankers.
        return np.asarray(self.model.predict([(query, d) for d in docs], batch_size=self.batch_size, show_progress_bar=False), dtype=np.float64)


@dataclass
class MinerSettings:
    """The ``miner:`` config block (configs/miner/default.yaml), checked."""

    range_min: int
    range_max: int
    num_negatives: int
    num_random: int
    fill: bool
    strategy: str
    rel_margin: float | None
    abs_margin: float | None
    max_score: float | None
    seed: int
    rounds: int = 1

    @classmethod
    def from_config(cls, cfg_miner) -> "MinerSettings":
        range_min = _int(cfg_miner, "range_min", 10)
        range_max = _int(cfg_miner, "range_max", 100, minimum=1)
        if range_max <= range_min:
            raise ConfigError(f"miner.range_max={range_max} must be greater than miner.range_min={range_min}")
        strategy = select(cfg_miner, "sampling_strategy", "random")
        if strategy not in ("top", "random"):
            raise ConfigError(f"miner.sampling_strategy={strategy!r} is unknown: use top or random")
        return cls(range_min, range_max, _int(cfg_miner, "num_negatives", 4), _int(cfg_miner, "num_random_negatives", 0),
                   bool(select(cfg_miner, "fill_with_random", True)), strategy, _opt_float(cfg_miner, "relative_margin"),
                   _opt_float(cfg_miner, "absolute_margin"), _opt_float(cfg_miner, "max_score"), int(select(cfg_miner, "seed", 0)),
                   _int(cfg_miner, "rounds", 1, minimum=1))

    def threshold(self, ps: float) -> float:
        """Highest score a negative may have for a positive scoring ``ps`` (inf: no margin applies)."""
        t = np.inf
        if ps is None or not np.isfinite(ps):
            return t
        if self.rel_margin is not None:
            t = min(t, ps - abs(ps) * self.rel_margin)
        if self.abs_margin is not None:
            t = min(t, ps - self.abs_margin)
        return t


def mine_hard_negatives(dataset, train_qrels, retriever, cfg_miner) -> MiningResult:
    """Mine negatives for every judged positive of every training query. See the module docstring."""
    m = MinerSettings.from_config(cfg_miner)
    denoise_cfg = cfg_miner.get("denoise") if cfg_miner is not None else None
    denoiser = _Denoiser(denoise_cfg) if denoise_cfg is not None and denoise_cfg.get("model") else None
    rng = np.random.default_rng(m.seed)

    qids = sorted(q for q, judged in train_qrels.items() if any(g > 0 for g in judged.values()))
    skipped_queries = len(train_qrels) - len(qids)
    run = retriever.retrieve(dataset, qids, k=m.range_max)
    all_ids = sorted(dataset.corpus)

    positives = {q: sorted(((d, g) for d, g in train_qrels[q].items() if g > 0), key=lambda x: (-x[1], x[0])) for q in qids}
    pos_pairs = [(q, d) for q in qids for d, _ in positives[q]]
    pos_scores = dict(zip(pos_pairs, retriever.score_pairs(dataset, pos_pairs).tolist()))

    counts = {"judged_positive": 0, "margin": 0, "max_score": 0, "denoise": 0, "kept": 0}
    random_stats = {"drawn": 0, "rejected_margin_or_max_score": 0, "topped_up_with_hard": 0}
    rows: list[MinedRow] = []
    positives_in_skipped_top = 0
    positives_without_score = 0
    for qid in qids:
        scores = run.get(qid, {})
        ranking = [(d, scores[d]) for d in ranked_ids(scores)]
        top_ids = {d for d, _ in ranking[: m.range_max]}
        judged = judged_positives(dataset, train_qrels, qid)
        positives_in_skipped_top += sum(1 for d, _ in ranking[: m.range_min] if d in judged)
        positives_without_score += sum(1 for pos, _ in positives[qid] if not np.isfinite(pos_scores[qid, pos]))
        survivors = _survivors(m, ranking[m.range_min : m.range_max], positives[qid], pos_scores, qid, judged, counts)
        if denoiser is not None:
            _denoise(denoiser, dataset, qid, survivors, counts)

        counts["kept"] += sum(len(keep) for keep in survivors.values())  # each window candidate once, whatever the rounds
        used: set[str] = set()
        # miner.rounds > 1: every positive gets one more row per round; `used` puts fresh negatives first
        for _ in range(m.rounds):
            for pos, grade in positives[qid]:
                keep = survivors[pos]
                hard = _pick_hard(m, keep, used, rng)
                used.update(d for d, _ in hard)
                n_easy = m.num_random + ((m.num_negatives - len(hard)) if m.fill else 0)
                easy = _draw_easy(dataset, retriever, qid, n_easy, all_ids, judged | top_ids | used, m.threshold(pos_scores[qid, pos]),
                                  m.max_score, rng, random_stats)
                used.update(d for d, _ in easy)
                # A small corpus has nothing beyond rank range_max to draw easy negatives from: take what
                # exists (more of this positive's hard candidates) so rows keep their length and train.
                short = m.num_negatives + m.num_random - len(hard) - len(easy)
                extra = [x for x in keep if x[0] not in used][: max(0, short)]
                used.update(d for d, _ in extra)
                random_stats["topped_up_with_hard"] += len(extra)
                chosen = hard + extra + easy
                rows.append(MinedRow(qid, pos, int(grade), float(pos_scores[qid, pos]), [d for d, _ in chosen],
                                     [float(s) for _, s in chosen], len(hard) + len(extra)))

    if random_stats["topped_up_with_hard"]:
        log.warning("mining: too few easy negatives beyond rank %d (small corpus?); %d more hard negatives were used instead",
                    m.range_max, random_stats["topped_up_with_hard"])
    result = MiningResult(dataset, rows, negatives_per_row=m.num_negatives + m.num_random)
    result.report = _report(result, retriever, cfg_miner, qids, skipped_queries, counts, random_stats, m.num_negatives, m.num_random,
                            positives_in_skipped_top, positives_without_score, denoiser, m.range_min, m.range_max)
    return result


def _survivors(m: MinerSettings, window, positives, pos_scores, qid, judged, counts) -> dict[str, list[tuple[str, float]]]:
    """Pass 1, the cheap filters, per positive: drop judged positives, margin and max-score violations."""
    survivors: dict[str, list[tuple[str, float]]] = {}
    for pos, _ in positives:
        t = m.threshold(pos_scores[qid, pos])
        keep = []
        for doc, s in window:
            if doc in judged:
                counts["judged_positive"] += 1
            elif s > t:
                counts["margin"] += 1
            elif m.max_score is not None and s > m.max_score:
                counts["max_score"] += 1
            else:
                keep.append((doc, s))
        survivors[pos] = keep
    return survivors


def _denoise(denoiser, dataset, qid: str, survivors: dict, counts: dict) -> None:
    """Pass 2: score each surviving candidate of the query once, however many positives it survived for."""
    cand = sorted({d for keep in survivors.values() for d, _ in keep})
    ce = dict(zip(cand, denoiser.scores(dataset.queries[qid], [dataset.doc_text(d) for d in cand])))
    for pos, keep in survivors.items():
        survivors[pos] = [(d, s) for d, s in keep if ce[d] < denoiser.threshold]
        counts["denoise"] += len(keep) - len(survivors[pos])


def _pick_hard(m: MinerSettings, keep, used: set[str], rng) -> list[tuple[str, float]]:
    """Up to ``num_negatives`` of the survivors: the top ones, or a seeded random draw.

    Candidates no other positive of this query took come first, so the pairs format (which lists
    each (query, passage) once) keeps the intended negatives/positives ratio.
    """
    fresh = [x for x in keep if x[0] not in used]
    stale = [x for x in keep if x[0] in used]
    if m.strategy == "top":
        return (fresh + stale)[: m.num_negatives]
    pick = [fresh[i] for i in sorted(rng.choice(len(fresh), min(m.num_negatives, len(fresh)), replace=False))]
    rest = m.num_negatives - len(pick)
    if rest > 0 and stale:
        pick += [stale[i] for i in sorted(rng.choice(len(stale), min(rest, len(stale)), replace=False))]
    return pick


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
