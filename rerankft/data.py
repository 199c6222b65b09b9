"""Retrieval data sets: one in-memory type, three loaders, and the split helpers.

Every loader returns a :class:`RetrievalDataset` (corpus, queries and graded qrels per
split) that has been validated: a problem a user can fix raises :class:`DataError`
naming the file and line; harmless oddities (an empty passage, a query without a
positive) are counted in ``dataset.warnings`` and logged once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rerankft.errors import DataError

log = logging.getLogger(__name__)

Qrels = dict[str, dict[str, int]]  # query id -> doc id -> grade (>0 relevant, 0 judged non-relevant)
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


# ----------------------------------------------------------------------------- reading helpers


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


# ----------------------------------------------------------------------------- BEIR folder


def read_corpus(path: Path, warnings: Counter) -> dict[str, dict[str, str]]:
    corpus: dict[str, dict[str, str]] = {}
    for lineno, obj in read_jsonl(path):
        doc_id = _as_id(obj.get("_id"), path, lineno, "_id")
        if "text" not in obj:
            raise DataError(f"{path}:{lineno}: document '{doc_id}' has no 'text' field; add \"text\": \"...\" to the line")
        if doc_id in corpus:
            raise DataError(f"{path}:{lineno}: duplicate document id '{doc_id}'; ids must be unique: remove or rename one of the two")
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
    for lineno, obj in read_jsonl(path):
        qid = _as_id(obj.get("_id"), path, lineno, "_id")
        if "text" not in obj:
            raise DataError(f"{path}:{lineno}: query '{qid}' has no 'text' field; add \"text\": \"...\" to the line")
        if qid in queries:
            raise DataError(f"{path}:{lineno}: duplicate query id '{qid}'; ids must be unique: remove or rename one of the two")
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
        kept[qid] = judged
    if not kept:
        raise DataError(f"{path}: no query has a positive (score > 0) judgement")
    return kept


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


# ----------------------------------------------------------------------------- BEIR on the Hub


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


# ----------------------------------------------------------------------------- domain pairs JSONL

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


# ----------------------------------------------------------------------------- splits


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


def _log_warnings(ds: RetrievalDataset) -> None:
    for what, n in ds.warnings.items():
        log.warning("%s: %d %s", ds.name, n, what.replace("_", " "))


def load_from_config(cfg) -> RetrievalDataset:
    """Build the data set named by the ``data`` config group and make sure it has train/test splits."""
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
    ensure_splits(ds, splits.get("train", "train"), splits.get("test", "test"), dict(cfg.get("split_ratios") or {}), int(cfg.get("split_seed", 0)))
    return ds
