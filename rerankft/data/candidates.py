"""Candidate lists that come from outside rerankft: a JSONL of {query, documents} per line (scripts/rerank.py)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rerankft.core.errors import DataError
from rerankft.core.runs import ranked_ids
from rerankft.data.readers import read_jsonl

if TYPE_CHECKING:  # torch / sentence-transformers load lazily: `import rerankft` stays light

    pass


log = logging.getLogger(__name__)


def read_candidates_jsonl(path: str | os.PathLike) -> list[dict]:
    """``{"query": str, "documents": [str | {"id": str, "text": str}], "qid"?: str}`` per line.

    Returns ``[{"qid", "query", "doc_ids", "texts", "line"}]``; qid defaults to the line number,
    a document id to its position in the list.
    """

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"input file not found: {path}")
    out, seen = [], {}
    for lineno, obj in read_jsonl(path):
        query = obj.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DataError(f"{path}:{lineno}: 'query' must be a non-empty string")
        docs = obj.get("documents")
        if not isinstance(docs, list):
            raise DataError(f"{path}:{lineno}: 'documents' must be a list of strings or {{id, text}} objects")
        qid = str(obj.get("qid", obj.get("query_id", obj.get("id", lineno))))
        if qid in seen:
            raise DataError(f"{path}:{lineno}: query id '{qid}' repeats line {seen[qid]}")
        seen[qid] = lineno
        ids, texts = [], []
        for j, d in enumerate(docs):
            if isinstance(d, str):
                ids.append(str(j))
                texts.append(d)
            elif isinstance(d, dict) and isinstance(d.get("text"), str):
                ids.append(str(d.get("id", d.get("_id", j))))
                texts.append(d["text"])
            else:
                raise DataError(f"{path}:{lineno}: documents[{j}] must be a string or an object with a 'text' string")
        if len(set(ids)) != len(ids):
            raise DataError(f"{path}:{lineno}: document ids repeat within one query")
        out.append({"qid": qid, "query": query, "doc_ids": ids, "texts": texts, "line": lineno})
    if not out:
        raise DataError(f"{path}: no queries")
    return out


def reranked_jsonl(items: list[dict], run: dict, texts: dict) -> str:
    """The reranked candidates as JSONL, best first (the one tie rule: :func:`rerankft.core.runs.ranked_ids`)."""
    lines = []
    for it in items:
        scores = run[it["qid"]]
        docs = [{"id": d, "score": scores[d], "text": texts[it["qid"], d]} for d in ranked_ids(scores)]
        lines.append(json.dumps({"qid": it["qid"], "query": it["query"], "documents": docs}, ensure_ascii=False))
    return "\n".join(lines) + "\n"
