"""Retrieval data sets: one in-memory type, three loaders, and the split helpers.

Every loader returns a :class:`RetrievalDataset` (corpus, queries and graded qrels per
split) that has been validated: a problem a user can fix raises :class:`DataError`
naming the file and line; harmless oddities (an empty passage, a query without a
positive) are counted in ``dataset.warnings`` and logged once.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from rerankft.core.errors import DataError
from rerankft.core.runs import Qrels
from rerankft.data.dataset import DEMO_DATA_DIR, RetrievalDataset, ensure_splits
from rerankft.data.readers import (
    _require_file,
    read_corpus,
    read_jsonl,
    read_qrels,
    read_queries,
    validate_qrels,
)

log = logging.getLogger(__name__)


def load_beir_folder(path: str | os.PathLike, splits: list[str] | None = None, name: str | None = None) -> RetrievalDataset:
    """Load a BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

    ``splits`` lists the qrels files to read; by default every ``qrels/*.tsv``.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}. Set data.path to a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    warnings: Counter = Counter()
    corpus = read_corpus(_require_file(root / "corpus.jsonl", "corpus file"), warnings)
    queries = read_queries(_require_file(root / "queries.jsonl", "queries file"))
    qrels_dir = root / "qrels"
    if splits is None:
        splits = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
        if not splits:
            raise DataError(f"no qrels found: expected {qrels_dir}/<split>.tsv (for example test.tsv)")
    qrels = {}
    for split in splits:
        qpath = _require_file(qrels_dir / f"{split}.tsv", f"qrels file for split '{split}'")
        raw, where = read_qrels(qpath)
        qrels[split] = validate_qrels(raw, where, qpath, corpus, queries, warnings)
    ds = RetrievalDataset(name or root.name, corpus, queries, qrels, source=str(root), warnings=warnings)
    _log_warnings(ds)
    return ds


def load_demo() -> RetrievalDataset:
    """The small help-center data set shipped inside the package (no network, no extra files)."""
    return load_beir_folder(DEMO_DATA_DIR, name="demo")


def load_beir_hub(name: str, splits: list[str] | None = None, revision: str | None = None) -> RetrievalDataset:
    """Load ``BeIR/<name>`` (corpus, queries) and ``BeIR/<name>-qrels`` through ``datasets``."""
    import datasets

    repo = name if "/" in name else f"BeIR/{name}"
    try:
        corpus_ds = datasets.load_dataset(repo, "corpus", split="corpus", revision=revision)
        queries_ds = datasets.load_dataset(repo, "queries", split="queries", revision=revision)
        qrels_dd = datasets.load_dataset(f"{repo}-qrels", revision=revision)
    except Exception as e:  # noqa: BLE001 - every failure here means "could not get it from the Hub"
        raise DataError(
            f"could not load '{repo}' from the Hugging Face Hub ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
            f"Without network access, download the BEIR folder once elsewhere and use "
            f"data=beir_local data.path=/path/to/{name.split('/')[-1]}"
        ) from e
    warnings: Counter = Counter()
    corpus: dict[str, dict[str, str]] = {}
    for row in corpus_ds:
        doc_id = str(row["_id"])
        title, text = str(row.get("title") or ""), str(row.get("text") or "")
        if not (title.strip() or text.strip()):
            warnings["empty_documents"] += 1
        corpus[doc_id] = {"title": title, "text": text}
    queries = {str(row["_id"]): str(row.get("text") or "") for row in queries_ds}
    qrels: dict[str, Qrels] = {}
    for split in splits or list(qrels_dd.keys()):
        if split not in qrels_dd:
            raise DataError(f"'{repo}-qrels' has no split '{split}' (it has: {', '.join(qrels_dd.keys())})")
        raw: Qrels = {}
        where: dict[tuple[str, str], int] = {}
        for i, row in enumerate(qrels_dd[split], start=1):
            qid, doc_id = str(row["query-id"]), str(row["corpus-id"])
            raw.setdefault(qid, {})[doc_id] = int(row["score"])
            where[qid, doc_id] = i
        qrels[split] = validate_qrels(raw, where, Path(f"{repo}-qrels/{split}"), corpus, queries, warnings)
    ds = RetrievalDataset(repo.split("/")[-1], corpus, queries, qrels, source=f"hf://{repo}", warnings=warnings)
    _log_warnings(ds)
    return ds


_POS_KEYS = ("positive", "positives", "pos")


_NEG_KEYS = ("negative", "negatives", "neg")


def _texts(obj: dict, keys: tuple[str, ...], path: Path, lineno: int, required: bool) -> list[str]:
    key = next((k for k in keys if k in obj), None)
    if key is None:
        if required:
            raise DataError(f"{path}:{lineno}: missing '{keys[0]}' (also accepted: {', '.join(keys[1:])})")
        return []
    value = obj[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DataError(f"{path}:{lineno}: '{key}' must be a string or a list of strings")
    if required and not values:
        raise DataError(f"{path}:{lineno}: '{key}' is an empty list; every query needs at least one positive passage")
    for v in values:
        if not v.strip():
            raise DataError(f"{path}:{lineno}: '{key}' contains an empty passage; remove it or give it a text")
    return values


def load_pairs_jsonl(path: str | os.PathLike, extra_corpus: str | os.PathLike | None = None, name: str | None = None) -> RetrievalDataset:
    """Load domain pairs, one query per line: ``{"query", "positive": str|[str], "negative": [str]}``.

    FlagEmbedding's ``pos``/``neg`` keys are accepted too. The corpus is every passage
    seen (deduplicated by text), plus the passages of ``extra_corpus`` (BEIR corpus
    JSONL or ``{"text": ...}`` lines). Given negatives become grade-0 judgements. All
    queries land in one split, ``all``; see :func:`ensure_splits`.
    """
    path = _require_file(Path(path).expanduser(), "pairs file")
    corpus: dict[str, dict[str, str]] = {}
    by_text: dict[str, str] = {}

    def doc_id_for(text: str) -> str:
        if text not in by_text:
            by_text[text] = f"p{len(by_text)}"
            corpus[by_text[text]] = {"title": "", "text": text}
        return by_text[text]

    queries: dict[str, str] = {}
    qrels: Qrels = {}
    seen_query: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        query = obj.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DataError(f"{path}:{lineno}: missing or empty 'query'")
        if query in seen_query:
            raise DataError(f"{path}:{lineno}: duplicate query (first on line {seen_query[query]}); merge its positives into one line")
        seen_query[query] = lineno
        positives = _texts(obj, _POS_KEYS, path, lineno, required=True)
        negatives = _texts(obj, _NEG_KEYS, path, lineno, required=False)
        qid = str(obj.get("query_id", obj.get("_id", f"q{len(queries)}")))
        queries[qid] = query
        judged = qrels.setdefault(qid, {})
        for text in negatives:
            judged[doc_id_for(text)] = 0
        for text in positives:  # a passage given as both positive and negative counts as positive
            judged[doc_id_for(text)] = 1
    if not queries:
        raise DataError(f"{path}: no pairs")
    if extra_corpus:
        extra = _require_file(Path(extra_corpus).expanduser(), "extra corpus file")
        for lineno, obj in read_jsonl(extra):
            text = obj.get("text")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{extra}:{lineno}: missing or empty 'text'")
            title = str(obj.get("title") or "")
            full = f"{title} {text}".strip() if title else text
            doc_id_for(full)
    ds = RetrievalDataset(name or path.stem, corpus, queries, {"all": qrels}, source=str(path))
    return ds


def _log_warnings(ds: RetrievalDataset) -> None:
    for what, n in ds.warnings.items():
        if n:  # Counter entries of 0 (nothing of that kind) say nothing
            (log.info if what == "judged_non_relevant_pairs" else log.warning)("%s: %d %s", ds.name, n, what.replace("_", " "))


def load_from_config(cfg, needs: tuple[str, ...] = ("train", "test")) -> RetrievalDataset:
    """Build the data set named by the ``data`` config group and make sure it has the splits a recipe needs.

    ``needs`` names roles (``train``, ``test``) mapped through ``data.splits``: training needs both
    (carved from ``all`` when missing); evaluation only the split it evaluates, so a folder with
    only ``qrels/test.tsv`` (how most BEIR data sets ship) is enough for it.
    """
    kind = cfg.get("kind")
    if kind == "demo":
        ds = load_demo()
    elif kind == "beir_local":
        if not cfg.get("path"):
            raise DataError("data.path is not set: give the BEIR folder, e.g. data.path=../shared/data/cranfield")
        ds = load_beir_folder(cfg.path, name=cfg.get("name"))
    elif kind == "beir_hub":
        if not cfg.get("name"):
            raise DataError("data.name is not set: give a BEIR data set name, e.g. data.name=scifact")
        ds = load_beir_hub(cfg.name, revision=cfg.get("revision"))
    elif kind == "pairs_jsonl":
        if not cfg.get("path"):
            raise DataError("data.path is not set: give the pairs JSONL file")
        ds = load_pairs_jsonl(cfg.path, extra_corpus=cfg.get("extra_corpus"), name=cfg.get("name"))
    else:
        raise DataError(f"data.kind '{kind}' is unknown: use one of demo, beir_local, beir_hub, pairs_jsonl")
    splits = cfg.get("splits") or {}
    train, test = splits.get("train", "train"), splits.get("test", "test")
    wanted = [splits.get(role, role) for role in needs]
    if not wanted:
        return ds
    if all(w in ds.qrels for w in wanted) and not (train in ds.qrels and test in ds.qrels):
        return ds  # e.g. eval on a test-only folder: nothing to carve, nothing missing
    if "train" in needs and train not in ds.qrels and test in ds.qrels and "all" not in ds.qrels:
        raise DataError(f"data set '{ds.name}' has judgements only for split '{test}': training needs training queries. "
                        f"Add qrels/{train}.tsv, or put every judgement in qrels/all.tsv and rerankft carves "
                        f"'{train}' and '{test}' from it (data.split_ratios)")
    ensure_splits(ds, train, test, dict(cfg.get("split_ratios") or {}), int(cfg.get("split_seed", 0)))
    return ds
