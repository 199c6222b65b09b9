"""Runs and qrels, the one ranking rule, and TREC run files.

A run maps query id -> doc id -> score (higher is better). Equal scores are ordered by doc id
descending, which is how trec_eval (and ir_measures) order ties: every cut, every written run and
every evaluated ranking uses :func:`ranked_ids`, so what is evaluated is what was ranked.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from rerankft.core.errors import DataError
from rerankft.core.io import write_text

Run = dict[str, dict[str, float]]  # query id -> doc id -> score (higher = better)
Qrels = dict[str, dict[str, int]]


def ranked_ids(scores: dict[str, float]) -> list[str]:
    """Doc ids best first; equal scores fall back to doc id descending, as trec_eval orders them."""
    return [d for d, _ in sorted(scores.items(), key=lambda x: (x[1], x[0]), reverse=True)]


def zscores(scores: dict[str, float]) -> dict[str, float]:
    """(x - mean) / std over one query's candidates; all-equal scores map to 0."""
    if not scores:
        return {}
    values = list(scores.values())
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if std < 1e-12:
        return {d: 0.0 for d in scores}
    return {d: (v - mean) / std for d, v in scores.items()}


def run_from_rankings(rankings: dict[str, list[str]]) -> Run:
    """Rankings (best first) -> a run whose scores are rank-derived (n, n-1, ..., 1): no ties, order kept exactly."""
    return {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in rankings.items()}


def truncate_run(run: Run, k: int) -> Run:
    """Each query's top ``k`` documents (the candidates a reranker gets)."""
    return {q: {d: run[q][d] for d in ranked_ids(run[q])[:k]} for q in run}


def write_trec_run(run: Run, path: str | os.PathLike, tag: str = "rerankft") -> Path:
    """Write a standard TREC run (``qid Q0 docid rank score tag``), best first per query (:func:`ranked_ids`), atomically.

    Scores keep 8 significant digits: enough to keep distinct model scores distinct, and the
    rank column always carries the order that was evaluated.
    """
    tag = str(tag).replace(" ", "_") or "rerankft"
    lines = []
    for qid, docs in run.items():
        for rank, doc_id in enumerate(ranked_ids(docs), start=1):
            lines.append(f"{qid} Q0 {doc_id} {rank} {float(docs[doc_id]):.8g} {tag}\n")
    return write_text(path, "".join(lines))


def _read_trec_run_lines(path: Path) -> tuple[Run, dict[tuple[str, str], int]]:
    if not path.is_file():
        raise DataError(f"TREC run file not found: {path}. Set retriever.path to a file with lines 'qid Q0 docid rank score tag'")
    run: Run = {}
    where: dict[tuple[str, str], int] = {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise DataError(f"{path}:{lineno}: not valid UTF-8; re-encode the run file as UTF-8") from None
            if not line:
                continue
            parts = line.split()
            if len(parts) != 6:
                raise DataError(f"{path}:{lineno}: expected 6 whitespace-separated fields (qid Q0 docid rank score tag), got {len(parts)}")
            qid, _, doc_id, _, score, _ = parts
            try:
                value = float(score)
            except ValueError:
                raise DataError(f"{path}:{lineno}: score '{score}' is not a number") from None
            if not math.isfinite(value):
                raise DataError(f"{path}:{lineno}: score '{score}' is not finite")
            if (qid, doc_id) in where:
                raise DataError(f"{path}:{lineno}: document '{doc_id}' listed twice for query '{qid}' (first on line {where[qid, doc_id]})")
            run.setdefault(qid, {})[doc_id] = value
            where[qid, doc_id] = lineno
    if not run:
        raise DataError(f"{path}: the run file is empty")
    return run, where


def read_trec_run(path: str | os.PathLike) -> Run:
    """Read a TREC run file; malformed lines raise DataError naming file:line."""
    return _read_trec_run_lines(Path(path).expanduser())[0]
