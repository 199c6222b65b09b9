"""Mined training rows and their conversion to each loss's input format (pairs, triplets, n-tuples, lists).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rerankft.core.errors import ConfigError

log = logging.getLogger(__name__)


FORMATS = ("pairs", "ntuples", "lists", "distill", "teacher_lists")
LIST_FORMATS = ("lists", "teacher_lists")  # (query, docs, labels) rows: one list of passages per row


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
    lists: dict | None = None  # teacher-graded lists ({"query", "docs", "labels"}: rerankft.mining.teacher)

    def to_dataset(self, fmt: str, num_negatives: int | None = None, grade_weights: bool = False):
        """The mined data in the shape a loss needs.

        pairs:   (query, passage, label 0.0/1.0); each positive once, each distinct negative of the
                 query once. Negatives/positives is reported as report["class_balance"].
        ntuples: (query, positive, negative_1..negative_N); rows with fewer than N negatives are dropped.
        lists:   (query, docs, labels) per query: positives with their graded labels, then negatives (0.0).
        distill: (query, positive, negative), one row per (positive, negative); teacher scores come later.
        teacher_lists: (query, docs, labels) as :mod:`rerankft.mining.teacher` graded them (``self.lists``).
        ``num_negatives`` caps negatives per positive (pairs, ntuples, distill) or per list (lists).
        ``grade_weights`` (ntuples): a ``label`` column weighting each row by its positive's grade, divided
        by the mean grade (nDCG's gain is the grade: a grade-4 answer counts four times a grade-1 one).
        """
        import datasets

        if fmt not in FORMATS:
            raise ConfigError(f"unknown mined-data format {fmt!r}: use one of {', '.join(FORMATS)}")
        ds = self.dataset
        if fmt == "pairs":
            return datasets.Dataset.from_dict(_pairs(self.rows, ds, num_negatives))
        if fmt == "teacher_lists":
            if self.lists is None:
                raise ConfigError("loss.format=teacher_lists needs the teacher's lists: the pipeline grades them (rerankft.mining.teacher)")
            return datasets.Dataset.from_dict(self.lists)
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
            dropped, grades = 0, []
            for r in self.rows:
                if len(r.negatives) < n_neg:
                    dropped += 1
                    continue
                grades.append(max(1, r.grade))
                cols["query"].append(ds.queries[r.qid])
                cols["positive"].append(ds.doc_text(r.positive))
                for i, n in enumerate(r.negatives[:n_neg]):
                    cols[f"negative_{i + 1}"].append(ds.doc_text(n))
            if dropped:
                log.warning("ntuples: dropped %d of %d rows with fewer than %d negatives", dropped, len(self.rows), n_neg)
            if grade_weights:
                mean = sum(grades) / max(1, len(grades))
                cols["label"] = [g / mean for g in grades]
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


def sample_pairs(result: MiningResult, n: int) -> list[tuple[str, str]]:
    """``n`` (query, passage) texts of the run's own training rows, deterministically: rows in (query,
    positive) order, each giving its positive and its hardest negative, so half relevant and half
    the near misses a reranker has to separate (the int8 backends calibrate on these)."""
    ds, pairs = result.dataset, []
    for r in sorted(result.rows, key=lambda r: (r.qid, r.positive)):
        if len(pairs) >= n:
            break
        pairs.append((ds.queries[r.qid], ds.doc_text(r.positive)))
        if r.negatives:
            pairs.append((ds.queries[r.qid], ds.doc_text(r.negatives[0])))
    return pairs[:n]
