"""The in-memory retrieval data set (corpus, queries, graded qrels per split) and query-level splitting.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rerankft.core.errors import ConfigError, DataError
from rerankft.core.runs import Qrels
from rerankft.core.settings import select

log = logging.getLogger(__name__)


DEMO_DATA_DIR = Path(__file__).resolve().parent / "demo_data"


@dataclass
class RetrievalDataset:
    """A corpus, its queries, and graded relevance judgements per split."""

    name: str
    corpus: dict[str, dict[str, str]]  # doc id -> {"title": str, "text": str}
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, Qrels]  # split name -> qrels
    source: str = ""
    warnings: Counter = field(default_factory=Counter)

    def doc_text(self, doc_id: str) -> str:
        """The passage text a model sees: title and body joined, as BEIR models do."""
        doc = self.corpus[doc_id]
        return f"{doc.get('title') or ''} {doc.get('text') or ''}".strip()

    def split(self, name: str) -> Qrels:
        if name not in self.qrels:
            raise DataError(
                f"data set '{self.name}' has no split '{name}' (it has: {', '.join(sorted(self.qrels)) or 'none'}). "
                "Set data.splits.* to an existing split, or let rerankft carve one with data.split_ratios."
            )
        return self.qrels[name]

    def split_queries(self, name: str) -> dict[str, str]:
        return {qid: self.queries[qid] for qid in self.split(name)}

    def fingerprint(self) -> str:
        """A content hash of corpus, queries and qrels: equal data, equal fingerprint, whatever the source."""
        h = hashlib.sha256()
        for doc_id in sorted(self.corpus):
            d = self.corpus[doc_id]
            h.update(f"D\t{doc_id}\t{d.get('title', '')}\t{d.get('text', '')}\n".encode())
        for qid in sorted(self.queries):
            h.update(f"Q\t{qid}\t{self.queries[qid]}\n".encode())
        for split in sorted(self.qrels):
            for qid in sorted(self.qrels[split]):
                for doc_id, grade in sorted(self.qrels[split][qid].items()):
                    h.update(f"R\t{split}\t{qid}\t{doc_id}\t{grade}\n".encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "docs": len(self.corpus),
            "queries": len(self.queries),
            "splits": {
                s: {"queries": len(q), "judgements": sum(len(v) for v in q.values())} for s, q in self.qrels.items()
            },
            "fingerprint": self.fingerprint(),
            "warnings": dict(self.warnings),
        }


def _hash_order(ids, seed: int) -> list[str]:
    return sorted(ids, key=lambda q: hashlib.sha1(f"{seed}:{q}".encode()).hexdigest())


def split_by_query(qrels: Qrels, ratios: dict[str, float], seed: int) -> dict[str, Qrels]:
    """Deterministically split qrels by query (no query in two splits).

    Order is a seeded hash of the query id, so adding queries later does not reshuffle
    the others. Ratios are normalised; every split with a positive ratio gets >= 1 query.
    """
    if not ratios or any(r < 0 for r in ratios.values()) or sum(ratios.values()) <= 0:
        raise DataError(f"bad split ratios {ratios}: give non-negative numbers, for example {{train: 0.8, test: 0.2}}")
    order = _hash_order(qrels, seed)
    names = [n for n, r in ratios.items() if r > 0]
    if len(order) < len(names):
        raise DataError(f"cannot split {len(order)} queries into {len(names)} non-empty splits {names}")
    total = sum(ratios[n] for n in names)
    out: dict[str, Qrels] = {}
    start = 0
    for i, n in enumerate(names):
        remaining_splits = len(names) - i - 1
        if remaining_splits == 0:
            end = len(order)
        else:
            end = start + max(1, round(ratios[n] / total * len(order)))
            end = min(end, len(order) - remaining_splits)
        out[n] = {q: qrels[q] for q in order[start:end]}
        start = end
    return out


def ensure_splits(ds: RetrievalDataset, train: str, test: str, ratios: dict[str, float], seed: int) -> None:
    """Make sure the data set has ``train`` and ``test`` splits, carving them from ``all`` if needed."""
    if train in ds.qrels and test in ds.qrels:
        overlap = set(ds.qrels[train]) & set(ds.qrels[test])
        if overlap:
            raise DataError(f"splits '{train}' and '{test}' share {len(overlap)} queries (e.g. '{sorted(overlap)[0]}')")
        return
    base = "all" if "all" in ds.qrels else next(iter(ds.qrels))
    if base in (train, test):
        raise DataError(f"data set '{ds.name}' has split '{base}' but not both '{train}' and '{test}'")
    parts = split_by_query(ds.qrels[base], {train: ratios.get("train", 0.8), test: ratios.get("test", 0.2)}, seed)
    ds.qrels.update(parts)
    log.info("carved splits from '%s' (seed %d): %s", base, seed, {k: len(v) for k, v in parts.items()})


def dev_seed(cfg) -> int:
    """The seed that carves the dev queries (and folds them for fusion's cross-validation): ``data.dev_seed``,
    or ``train.seed`` when that is null, so runs that differ only in their training seed can share one dev split."""
    value = select(cfg, "data.dev_seed", None)
    value = select(cfg, "train.seed", 42) if value is None else value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"data.dev_seed={value!r} is invalid: expected an integer or null (= train.seed)")
    return value


def carve_dev(train_qrels: Qrels, fraction: float, seed: int, min_queries: int = 1) -> tuple[Qrels, Qrels]:
    """Hold out a dev split from the training queries (never the test split) for model selection."""
    if not 0 < fraction < 1:
        raise DataError(f"dev fraction must be between 0 and 1, got {fraction}")
    n_dev = max(min_queries, round(fraction * len(train_qrels)))
    if n_dev >= len(train_qrels):
        raise DataError(f"only {len(train_qrels)} training queries: too few to hold out {n_dev} for dev")
    order = _hash_order(train_qrels, seed + 1)
    dev_ids = set(order[:n_dev])
    return ({q: v for q, v in train_qrels.items() if q not in dev_ids}, {q: v for q, v in train_qrels.items() if q in dev_ids})


def cap_queries(qrels: Qrels, n: int | None, seed: int) -> Qrels:
    """The first ``n`` queries of a seeded hash order (all of them when ``n`` is null or not smaller).
    Nested: the 27 queries of ``n=27`` are among the 54 of ``n=54``, so a learning curve adds labels, not swaps them."""
    if n is None or n >= len(qrels):
        return qrels
    keep = set(_hash_order(qrels, seed + 2)[:n])
    return {q: v for q, v in qrels.items() if q in keep}


def training_split(dataset: RetrievalDataset, cfg) -> tuple[Qrels, Qrels]:
    """The labelled queries a run trains on and the dev queries it selects with, both from the training split:
    dev carved first (``data.dev_fraction``, ``data.dev_seed``), then the rest capped at ``data.train_queries``
    (null = all). The cap never changes the dev queries, so runs with different label budgets compare on one dev."""
    seed = dev_seed(cfg)
    train, dev = carve_dev(dataset.split(cfg.data.splits.train), cfg.data.dev_fraction, seed)
    return cap_queries(train, train_queries(cfg), seed), dev


def dev_folds(cfg) -> int | None:
    """``dev.folds``: null (one dev carve, ``data.dev_fraction``) or k >= 2 (cross-fitting over every training query)."""
    value = select(cfg, "dev.folds", None)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        raise ConfigError(f"dev.folds={value!r} is invalid: expected null (one dev split) or an integer of at least 2")
    return value


def fold_splits(dataset: RetrievalDataset, cfg, folds: int) -> list[tuple[Qrels, Qrels]]:
    """``dev.folds=k``: every judged training query is dev in exactly one of k (train, dev) pairs.

    Fold i's dev queries are every k-th query of the same seeded hash order the dev carve uses, so
    the folds are as even as k allows; each fold's training queries are the rest, capped at
    ``data.train_queries`` like a single split's."""
    qrels = dataset.split(cfg.data.splits.train)
    if folds > len(qrels):
        raise DataError(f"dev.folds={folds} is more than the {len(qrels)} judged training queries")
    seed = dev_seed(cfg)
    order = _hash_order(qrels, seed + 1)
    out = []
    for i in range(folds):
        dev_ids = set(order[i::folds])
        train = {q: v for q, v in qrels.items() if q not in dev_ids}
        out.append((cap_queries(train, train_queries(cfg), seed), {q: v for q, v in qrels.items() if q in dev_ids}))
    return out


def train_queries(cfg) -> int | None:
    """``data.train_queries``: null, or a positive integer (refused naming the key otherwise)."""
    value = select(cfg, "data.train_queries", None)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"data.train_queries={value!r} is invalid: expected a positive integer or null (all)")
    return value
