"""Readers for BEIR files (corpus.jsonl, queries.jsonl, qrels/*.tsv): every error names file and line.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Iterator

from rerankft.core.errors import DataError
from rerankft.core.runs import Qrels

log = logging.getLogger(__name__)


def _require_file(path: Path, what: str, hint: str = "") -> Path:
    if not path.is_file():
        raise DataError(f"{what} not found: {path}" + (f". {hint}" if hint else ""))
    if path.stat().st_size == 0:
        raise DataError(f"{what} is empty: {path}")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) with a clear error on bytes that are not UTF-8."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start}); re-encode the file as UTF-8") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for every non-blank line of a JSON-lines file."""
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno}); each line must be one complete JSON object") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _as_id(value, path: Path, lineno: int, key: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{path}:{lineno}: missing '{key}'; every line needs a non-empty '{key}' (a string or integer)")
    if not isinstance(value, (str, int)):
        raise DataError(f"{path}:{lineno}: '{key}' must be a string or integer, got {type(value).__name__}")
    return str(value)


def _records(path: Path, kind: str):
    """(line, id, object) of a BEIR corpus or queries JSONL: an id and a 'text' field on every line, ids unique."""
    seen: set[str] = set()
    for lineno, obj in read_jsonl(path):
        rid = _as_id(obj.get("_id"), path, lineno, "_id")
        if "text" not in obj:
            raise DataError(f"{path}:{lineno}: {kind} '{rid}' has no 'text' field; add \"text\": \"...\" to the line")
        if rid in seen:
            raise DataError(f"{path}:{lineno}: duplicate {kind} id '{rid}'; ids must be unique: remove or rename one of the two")
        seen.add(rid)
        yield lineno, rid, obj


def read_corpus(path: Path, warnings: Counter) -> dict[str, dict[str, str]]:
    corpus: dict[str, dict[str, str]] = {}
    for _, doc_id, obj in _records(path, "document"):
        title, text = str(obj.get("title") or ""), str(obj.get("text") or "")
        if not (title.strip() or text.strip()):
            # Harmless for retrieval (the doc just never matches), so count it instead of failing:
            # real collections (Cranfield) keep empty docs to preserve their ids.
            warnings["empty_documents"] += 1
        corpus[doc_id] = {"title": title, "text": text}
    if not corpus:
        raise DataError(f"{path}: no documents")
    return corpus


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for _, qid, obj in _records(path, "query"):
        queries[qid] = str(obj.get("text") or "")
    if not queries:
        raise DataError(f"{path}: no queries")
    return queries


def read_qrels(path: Path) -> tuple[Qrels, dict[tuple[str, str], int]]:
    """Read a BEIR qrels TSV (header optional). Returns qrels and the line of each pair (for errors)."""
    qrels: Qrels = {}
    where: dict[tuple[str, str], int] = {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if lineno == 1 and parts[0].lower() in ("query-id", "query_id", "qid"):
            continue  # header
        if len(parts) == 4:  # TREC qrels: qid iteration docid grade
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise DataError(f"{path}:{lineno}: expected 3 tab-separated fields (query-id, corpus-id, score), got {len(parts)}")
        qid, doc_id, score = (p.strip() for p in parts)
        try:
            grade = int(score)
        except ValueError:
            raise DataError(f"{path}:{lineno}: relevance score '{score}' is not an integer; use integer grades (0 = not relevant, 1 or more = relevant)") from None
        if (qid, doc_id) in where:
            raise DataError(f"{path}:{lineno}: duplicate judgement for query '{qid}', document '{doc_id}' (first on line {where[qid, doc_id]})")
        qrels.setdefault(qid, {})[doc_id] = grade
        where[qid, doc_id] = lineno
    return qrels, where


def validate_qrels(
    qrels: Qrels,
    where: dict[tuple[str, str], int],
    path: Path,
    corpus: dict,
    queries: dict[str, str],
    warnings: Counter,
) -> Qrels:
    """Check ids and texts; drop (and count) queries that have no positive judgement."""
    for (qid, doc_id), lineno in where.items():
        if qid not in queries:
            raise DataError(f"{path}:{lineno}: unknown query id '{qid}' (not in queries.jsonl); add the query or remove this line (qrels and queries must come from the same data set)")
        if doc_id not in corpus:
            raise DataError(f"{path}:{lineno}: unknown document id '{doc_id}' (not in corpus.jsonl); add the document or remove this line (qrels and corpus must come from the same data set)")
    kept: Qrels = {}
    for qid, judged in qrels.items():
        if not queries[qid].strip():
            lineno = min(where[qid, d] for d in judged)
            raise DataError(f"{path}:{lineno}: query '{qid}' has an empty text (in queries.jsonl); give it a text or remove its judgements")
        if not any(g > 0 for g in judged.values()):
            warnings["queries_without_positive"] += 1
            continue
        # Grades <= 0 are judged non-relevant: kept (mining never uses them as positives, and they
        # count as judged for the metrics); a negative grade is read as 0, since ir-measures would
        # otherwise subtract it as a negative gain in nDCG.
        non_relevant = sum(1 for g in judged.values() if g <= 0)
        negative = sum(1 for g in judged.values() if g < 0)
        if non_relevant:
            warnings["judged_non_relevant_pairs"] += non_relevant
        if negative:
            warnings["negative_grades_read_as_0"] += negative
        kept[qid] = {d: max(0, g) for d, g in judged.items()}
    if not kept:
        raise DataError(f"{path}: no query has a positive (score > 0) judgement")
    return kept
