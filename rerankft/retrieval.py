"""First-stage retrieval: dense (bi-encoder), BM25 (bm25s) and user TREC runs behind one interface.

Every retriever has ``.name``, ``.describe()`` (goes into run metadata), ``.retrieve(dataset,
query_ids, k) -> Run`` and ``.score_pairs(dataset, pairs) -> np.ndarray`` (the first-stage score
of given (query id, doc id) pairs, also for documents outside the top-k: mining needs the
positive's score for its margin filters).

Corpus embeddings (dense) and the index (BM25) are cached on disk under ``cache_dir``, keyed by
model identity (or BM25 parameters) and a corpus fingerprint, and written atomically; a cache
file that does not load or whose checksum does not match is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import weakref
from pathlib import Path
from typing import Iterable

import numpy as np

from rerankft.errors import ConfigError, DataError, ModelError
from rerankft.io import atomic_dir, atomic_path, write_json, write_text

log = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]  # query id -> doc id -> score

# Documents encoded by any DenseRetriever in this process: tests and benchmarks read it to tell a
# cache hit from a re-encode without timing anything.
ENCODE_CALLS = {"docs": 0, "batches": 0}

# Defaults of configs/retriever/*.yaml, used by build_first_stage when the config in use names
# another retriever (eval benchmarks bm25 and dense whatever `retriever=` says).
DEFAULTS = {
    "dense": {"kind": "dense", "name": "sentence-transformers/all-MiniLM-L6-v2", "batch_size": 64, "block_size": 4096, "use_faiss": False},
    "bm25": {"kind": "bm25", "method": "lucene", "k1": 1.5, "b": 0.75, "stopwords": "en"},
}


# ----------------------------------------------------------------------------- TREC run files


def write_trec_run(run: Run, path: str | os.PathLike, tag: str = "rerankft") -> Path:
    """Write a standard TREC run (``qid Q0 docid rank score tag``), best first per query, atomically."""
    tag = str(tag).replace(" ", "_") or "rerankft"
    lines = []
    for qid in sorted(run):
        ranked = sorted(run[qid].items(), key=lambda kv: (-kv[1], kv[0]))
        for rank, (doc_id, score) in enumerate(ranked, start=1):
            lines.append(f"{qid} Q0 {doc_id} {rank} {float(score):.6f} {tag}\n")
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


# ----------------------------------------------------------------------------- helpers


_FINGERPRINTS: dict[int, tuple] = {}  # id(dataset) -> (weakref to it, id of its corpus, corpus size, fingerprint)


def corpus_fingerprint(dataset) -> str:
    """Hash of doc ids and the texts models see. Unlike dataset.fingerprint() it ignores queries and
    qrels, so carving a dev split or adding queries does not invalidate corpus caches.

    Memoised per data set object (scoring calls it often); a replaced or resized corpus is rehashed.
    """
    memo = _FINGERPRINTS.get(id(dataset))
    if memo is not None and memo[0]() is dataset and memo[1] == id(dataset.corpus) and memo[2] == len(dataset.corpus):
        return memo[3]
    h = hashlib.sha256()
    for doc_id in sorted(dataset.corpus):
        h.update(f"{doc_id}\t{dataset.doc_text(doc_id)}\n".encode())
    fp = h.hexdigest()[:16]
    try:
        _FINGERPRINTS[id(dataset)] = (weakref.ref(dataset), id(dataset.corpus), len(dataset.corpus), fp)
    except TypeError:  # an object without weakref support: just do not memoise
        pass
    return fp


def _cfg_get(cfg, key, default=None):
    if cfg is None:
        return default
    try:
        value = cfg.get(key, default)
    except Exception as e:  # noqa: BLE001 - OmegaConf's MissingMandatoryValue for '???'
        raise ConfigError(f"retriever.{key} is not set ({type(e).__name__}); give it on the command line, e.g. retriever.{key}=...") from None
    return default if value is None else value


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"top-k must be a positive integer, got {k!r}")
    return k


def _check_queries(dataset, query_ids: Iterable[str]) -> list[str]:
    query_ids = list(query_ids)
    missing = [q for q in query_ids if q not in dataset.queries]
    if missing:
        raise DataError(f"{len(missing)} requested queries are not in data set '{dataset.name}' (e.g. '{missing[0]}')")
    return query_ids


def blocked_topk(queries, corpus, k: int, block_size: int = 4096, query_block_size: int = 1024, device: str | None = None):
    """Exact top-k of ``queries @ corpus.T`` without materialising the full matrix.

    Scores one (query block x corpus block) tile at a time, keeps each tile's top-k and merges it
    with the running top-k, so memory is O(query_block x (block + k)). Returns (scores, indices),
    float32 / int64 arrays of shape (n_queries, min(k, n_docs)), best first. With ``device`` (e.g.
    "cuda") each tile is computed there; only one corpus block at a time is moved.
    """
    import torch

    q = torch.as_tensor(np.asarray(queries, dtype=np.float32))
    c = torch.as_tensor(np.asarray(corpus, dtype=np.float32))
    n_docs = c.shape[0]
    k = min(k, n_docs)
    out_s = np.empty((q.shape[0], k), dtype=np.float32)
    out_i = np.empty((q.shape[0], k), dtype=np.int64)
    with torch.inference_mode():
        for qs in range(0, q.shape[0], query_block_size):
            qb = q[qs : qs + query_block_size].to(device or "cpu")
            best_s = torch.full((qb.shape[0], 0), float("-inf"), device=qb.device)
            best_i = torch.zeros((qb.shape[0], 0), dtype=torch.long, device=qb.device)
            for cs in range(0, n_docs, block_size):
                tile = qb @ c[cs : cs + block_size].to(qb.device).T
                ts, ti = torch.topk(tile, min(k, tile.shape[1]), dim=1)
                cand_s = torch.cat([best_s, ts], dim=1)
                cand_i = torch.cat([best_i, ti + cs], dim=1)
                best_s, pos = torch.topk(cand_s, min(k, cand_s.shape[1]), dim=1)
                best_i = torch.gather(cand_i, 1, pos)
            out_s[qs : qs + qb.shape[0]] = best_s.cpu().numpy()
            out_i[qs : qs + qb.shape[0]] = best_i.cpu().numpy()
    return out_s, out_i


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- dense


class DenseRetriever:
    """A SentenceTransformer bi-encoder with exact top-k over cached, normalised corpus embeddings.

    Scores are cosine similarities (dot products of L2-normalised embeddings), the scale the
    mining margins are written for.
    """

    name = "dense"

    def __init__(self, cfg, cache_dir):
        self.model_name = str(_cfg_get(cfg, "name", DEFAULTS["dense"]["name"]))
        self.batch_size = int(_cfg_get(cfg, "batch_size", 64))
        self.block_size = int(_cfg_get(cfg, "block_size", 4096))
        self.use_faiss = bool(_cfg_get(cfg, "use_faiss", False))
        self.device = _cfg_get(cfg, "device", None)
        self.max_seq_length = _cfg_get(cfg, "max_seq_length", None)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.stats = {"encoded_docs": 0, "encoded_queries": 0, "cache_hits": 0, "cache_rebuilds": 0}
        self._model = None
        self._model_key = None
        self._corpus: tuple[str, list[str], np.ndarray, dict[str, int]] | None = None  # (fingerprint, ids, emb, index)
        self._query_emb: dict[tuple[str, str], np.ndarray] = {}

    # -- model
    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            from rerankft.models import resolve_model_name

            path = resolve_model_name(self.model_name)
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except Exception as e:  # noqa: BLE001 - any load failure is a model the user named
                raise ModelError(
                    f"retriever.name={self.model_name!r} could not be loaded as a SentenceTransformer bi-encoder "
                    f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). Give a local folder or a hub id of a bi-encoder."
                ) from e
            if self.max_seq_length:
                self._model.max_seq_length = int(self.max_seq_length)
        return self._model

    def model_key(self) -> str:
        """Model identity: the hub id, or for a local folder its path, its small config files'
        contents and the size/mtime of its weights (a re-trained model saved to the same folder
        gets a new key)."""
        if self._model_key is None:
            from rerankft.models import resolve_model_name

            path = Path(resolve_model_name(self.model_name))
            h = hashlib.sha256(f"{self.model_name}\n{self.max_seq_length}\n".encode())
            if path.is_dir():
                h.update(str(path.resolve()).encode())
                for p in sorted(path.rglob("*")):
                    if not p.is_file() or ".cache" in p.parts:
                        continue
                    st = p.stat()
                    h.update(f"{p.relative_to(path)}\t{st.st_size}\n".encode())
                    if p.suffix == ".json" and st.st_size < 1 << 20:
                        h.update(p.read_bytes())
                    else:
                        h.update(str(st.st_mtime_ns).encode())
            self._model_key = h.hexdigest()[:16]
        return self._model_key

    def describe(self) -> dict:
        return {"retriever": "dense", "model": self.model_name, "score": "cosine", "exact": True,
                "search": "faiss IndexFlatIP" if self.use_faiss else f"blocked matmul (block_size={self.block_size})",
                "batch_size": self.batch_size, "max_seq_length": self.max_seq_length}

    # -- corpus embeddings
    def _cache_paths(self, fp: str) -> tuple[Path, Path] | None:
        if self.cache_dir is None:
            return None
        base = self.cache_dir / "dense" / f"{self.model_key()}-{fp}"
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def _load_cache(self, fp: str, ids: list[str]) -> np.ndarray | None:
        paths = self._cache_paths(fp)
        if paths is None or not paths[0].exists() or not paths[1].exists():
            return None
        npy, meta_path = paths
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("ids") != ids or npy.stat().st_size != meta["bytes"]:
                raise ValueError("size or ids differ from the metadata")
            # Checksum every file up to 1 GiB (cheap); above that the size + shape checks must do.
            if meta["bytes"] <= 1 << 30 and _file_sha256(npy) != meta["sha256"]:
                raise ValueError("checksum mismatch")
            emb = np.load(npy, allow_pickle=False)
            if emb.shape != (len(ids), meta["dim"]) or emb.dtype != np.float32:
                raise ValueError(f"shape {emb.shape} / dtype {emb.dtype} unexpected")
        except Exception as e:  # noqa: BLE001 - anything wrong with a cache file means: rebuild it
            log.warning("embedding cache %s is unusable (%s); re-encoding the corpus", npy, e)
            self.stats["cache_rebuilds"] += 1
            return None
        self.stats["cache_hits"] += 1
        return emb

    def _save_cache(self, fp: str, ids: list[str], emb: np.ndarray) -> None:
        paths = self._cache_paths(fp)
        if paths is None:
            return
        npy, meta_path = paths
        with atomic_path(npy, suffix=".npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, emb, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
        # The metadata is written last: a crash between the two leaves a cache that fails validation.
        write_json(meta_path, {"model": self.model_name, "model_key": self.model_key(), "corpus_fingerprint": fp,
                               "dim": int(emb.shape[1]), "bytes": npy.stat().st_size, "sha256": _file_sha256(npy), "ids": ids})

    def corpus_embeddings(self, dataset) -> tuple[list[str], np.ndarray, dict[str, int]]:
        fp = corpus_fingerprint(dataset)
        if self._corpus is not None and self._corpus[0] == fp:
            return self._corpus[1], self._corpus[2], self._corpus[3]
        ids = sorted(dataset.corpus)
        emb = self._load_cache(fp, ids)
        if emb is None:
            texts = [dataset.doc_text(d) for d in ids]
            emb = np.asarray(self.model.encode_document(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                                        normalize_embeddings=True, show_progress_bar=len(texts) > 5000),
                             dtype=np.float32)
            self.stats["encoded_docs"] += len(ids)
            ENCODE_CALLS["docs"] += len(ids)
            ENCODE_CALLS["batches"] += 1
            self._save_cache(fp, ids, emb)
        index = {d: i for i, d in enumerate(ids)}
        self._corpus = (fp, ids, emb, index)
        return ids, emb, index

    def query_embeddings(self, dataset, query_ids: list[str]) -> np.ndarray:
        todo = [q for q in dict.fromkeys(query_ids) if (q, dataset.queries[q]) not in self._query_emb]
        if todo:
            emb = self.model.encode_query([dataset.queries[q] for q in todo], batch_size=self.batch_size,
                                          convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
            self.stats["encoded_queries"] += len(todo)
            for q, e in zip(todo, np.asarray(emb, dtype=np.float32)):
                self._query_emb[q, dataset.queries[q]] = e
        return np.stack([self._query_emb[q, dataset.queries[q]] for q in query_ids]) if query_ids else np.zeros((0, 1), np.float32)

    # -- retrieval
    def retrieve(self, dataset, query_ids, k: int) -> Run:
        query_ids = _check_queries(dataset, query_ids)
        k = _check_k(k)
        if not query_ids:
            return {}
        ids, emb, _ = self.corpus_embeddings(dataset)
        q = self.query_embeddings(dataset, query_ids)
        if self.use_faiss:
            # IndexFlatIP is exact too; it is faster than torch matmul on large corpora with many cores.
            try:
                import faiss
            except ImportError as e:
                raise ConfigError("retriever.use_faiss=true needs faiss: pip install 'rerankft[faiss]'") from e
            index = faiss.IndexFlatIP(emb.shape[1])
            index.add(emb)
            scores, idx = index.search(q, min(k, len(ids)))
        else:
            scores, idx = blocked_topk(q, emb, k, block_size=self.block_size, device=str(self.model.device))
        return {qid: {ids[j]: float(s) for s, j in zip(scores[r], idx[r]) if j >= 0} for r, qid in enumerate(query_ids)}

    def score_pairs(self, dataset, pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        _, emb, index = self.corpus_embeddings(dataset)
        for qid, doc_id in pairs:
            if doc_id not in index:
                raise DataError(f"document '{doc_id}' (query '{qid}') is not in the corpus of '{dataset.name}'")
        q = self.query_embeddings(dataset, [p[0] for p in pairs])
        d = emb[[index[p[1]] for p in pairs]]
        return np.einsum("ij,ij->i", q, d).astype(np.float32)


# ----------------------------------------------------------------------------- BM25


class BM25Retriever:
    """BM25 through bm25s (sparse matrix of precomputed per-term scores; exact scores for any doc)."""

    name = "bm25"

    def __init__(self, cfg, cache_dir):
        self.method = str(_cfg_get(cfg, "method", "lucene"))
        self.k1 = float(_cfg_get(cfg, "k1", 1.5))
        self.b = float(_cfg_get(cfg, "b", 0.75))
        self.delta = float(_cfg_get(cfg, "delta", 0.5))
        stop = _cfg_get(cfg, "stopwords", "en")
        self.stopwords = None if stop in ("none", "", False) else stop
        if self.method not in ("robertson", "lucene", "atire", "bm25l", "bm25+"):
            raise ConfigError(f"retriever.method={self.method!r} is unknown: use one of lucene, robertson, atire, bm25l, bm25+")
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.stats = {"indexed_docs": 0, "cache_hits": 0, "cache_rebuilds": 0}
        self._index = None  # (fingerprint, ids, bm25s.BM25, {doc id: row})

    def describe(self) -> dict:
        import bm25s

        return {"retriever": "bm25", "implementation": f"bm25s {bm25s.__version__}", "variant": self.method,
                "k1": self.k1, "b": self.b, "delta": self.delta if self.method in ("bm25l", "bm25+") else None,
                "stopwords": self.stopwords, "stemmer": None, "tokenizer": "lowercase, \\w\\w+ tokens", "text": "title + text"}

    def _params_key(self) -> str:
        import bm25s

        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode() + bm25s.__version__.encode()).hexdigest()[:12]

    def _tokenize(self, texts: list[str]):
        import bm25s

        return bm25s.tokenize(texts, stopwords=self.stopwords, show_progress=False, return_ids=False)

    def _get_index(self, dataset):
        import bm25s

        fp = corpus_fingerprint(dataset)
        if self._index is not None and self._index[0] == fp:
            return self._index
        ids = sorted(dataset.corpus)
        folder = self.cache_dir / "bm25" / f"{self._params_key()}-{fp}" if self.cache_dir else None
        model = None
        if folder is not None and folder.is_dir():
            try:
                model = bm25s.BM25.load(str(folder), load_corpus=False)
                saved_ids = json.loads((folder / "doc_ids.json").read_text(encoding="utf-8"))
                if saved_ids != ids or model.scores["num_docs"] != len(ids):
                    raise ValueError("doc ids differ")
                self.stats["cache_hits"] += 1
            except Exception as e:  # noqa: BLE001 - a broken cache folder is rebuilt
                log.warning("BM25 index cache %s is unusable (%s); rebuilding it", folder, e)
                self.stats["cache_rebuilds"] += 1
                model = None
        if model is None:
            model = bm25s.BM25(k1=self.k1, b=self.b, delta=self.delta, method=self.method)
            model.index(self._tokenize([dataset.doc_text(d) for d in ids]), show_progress=False)
            self.stats["indexed_docs"] += len(ids)
            if folder is not None:
                with atomic_dir(folder) as tmp:
                    model.save(str(tmp))
                    write_json(tmp / "doc_ids.json", ids)
        self._index = (fp, ids, model, {d: i for i, d in enumerate(ids)})
        return self._index

    def _scores(self, model, text: str) -> np.ndarray:
        tokens = [t for t in self._tokenize([text])[0] if t in model.vocab_dict]
        if not tokens:
            return np.zeros(model.scores["num_docs"], dtype=np.float32)
        return np.asarray(model.get_scores(tokens), dtype=np.float32)

    def retrieve(self, dataset, query_ids, k: int) -> Run:
        query_ids = _check_queries(dataset, query_ids)
        k = _check_k(k)
        _, ids, model, _ = self._get_index(dataset)
        run: Run = {}
        for qid in query_ids:
            scores = self._scores(model, dataset.queries[qid])
            kk = min(k, len(scores))
            top = np.argpartition(-scores, kk - 1)[:kk]
            top = top[np.lexsort((top, -scores[top]))]
            # A document that shares no term with the query scores 0: like Lucene, it is not retrieved.
            run[qid] = {ids[j]: float(scores[j]) for j in top if scores[j] > 0}
        return run

    def score_pairs(self, dataset, pairs: list[tuple[str, str]]) -> np.ndarray:
        _, _, model, index = self._get_index(dataset)
        out = np.zeros(len(pairs), dtype=np.float32)
        cache: dict[str, np.ndarray] = {}
        for i, (qid, doc_id) in enumerate(pairs):
            if doc_id not in index:
                raise DataError(f"document '{doc_id}' (query '{qid}') is not in the corpus of '{dataset.name}'")
            if qid not in cache:
                cache[qid] = self._scores(model, dataset.queries[qid])
            out[i] = cache[qid][index[doc_id]]
        return out


# ----------------------------------------------------------------------------- user run


class TrecRunRetriever:
    """Bring your own first stage: candidates and scores come from a TREC run file.

    Documents not in the run have no score: ``score_pairs`` returns NaN for them (mining then
    skips the margin filters for such positives and counts them).
    """

    name = "run"

    def __init__(self, cfg, cache_dir=None):
        path = _cfg_get(cfg, "path", None)
        if not path:
            raise ConfigError("retriever.path is not set: give a TREC run file, e.g. retriever=trec_run retriever.path=runs/bm25.trec")
        self.path = Path(str(path)).expanduser()
        self.run, self._where = _read_trec_run_lines(self.path)
        self._checked_for: str | None = None

    def describe(self) -> dict:
        return {"retriever": "run", "path": str(self.path), "queries": len(self.run),
                "sha256": _file_sha256(self.path)[:16]}

    def _check_docs(self, dataset) -> None:
        fp = corpus_fingerprint(dataset)
        if self._checked_for == fp:
            return
        for (qid, doc_id), lineno in sorted(self._where.items(), key=lambda kv: kv[1]):
            if doc_id not in dataset.corpus:
                raise DataError(f"{self.path}:{lineno}: unknown document id '{doc_id}' (not in the corpus of '{dataset.name}'); "
                                "the run must come from the same corpus")
        self._checked_for = fp

    def retrieve(self, dataset, query_ids, k: int) -> Run:
        query_ids = _check_queries(dataset, query_ids)
        k = _check_k(k)
        self._check_docs(dataset)
        out: Run = {}
        for qid in query_ids:
            if not self.run.get(qid):
                raise DataError(f"{self.path}: query '{qid}' has no candidates in the run file; the run must cover every query "
                                "of the split being mined or evaluated")
            ranked = sorted(self.run[qid].items(), key=lambda kv: (-kv[1], self._where[qid, kv[0]]))[:k]
            out[qid] = dict(ranked)
        return out

    def score_pairs(self, dataset, pairs: list[tuple[str, str]]) -> np.ndarray:
        self._check_docs(dataset)
        return np.array([self.run.get(q, {}).get(d, np.nan) for q, d in pairs], dtype=np.float32)


# ----------------------------------------------------------------------------- factories

_KINDS = {"dense": DenseRetriever, "bm25": BM25Retriever, "trec_run": TrecRunRetriever, "run": TrecRunRetriever}


def build_retriever(cfg_retriever, cache_dir):
    """The retriever named by ``retriever.kind`` (dense | bm25 | trec_run)."""
    kind = _cfg_get(cfg_retriever, "kind", None)
    if kind not in _KINDS:
        raise ConfigError(f"retriever.kind={kind!r} is unknown: use retriever=dense, retriever=bm25 or retriever=trec_run")
    return _KINDS[kind](cfg_retriever, cache_dir)


def build_first_stage(name: str, cfg, cache_dir):
    """A first stage by name for ``eval.first_stages``: 'bm25' or 'dense' (or 'run' when retriever=trec_run).

    When the config's own ``retriever`` group is of that kind its settings are used (so
    ``retriever.name=<model>`` changes the dense first stage too); otherwise the packaged defaults.
    """
    current = _cfg_get(cfg, "retriever", None) if cfg is not None else None
    current_kind = _cfg_get(current, "kind", None) if current is not None else None
    if name in ("run", "trec_run"):
        if current_kind != "trec_run":
            raise ConfigError(f"eval.first_stages names '{name}' but retriever is not trec_run: add retriever=trec_run retriever.path=<file>")
        return TrecRunRetriever(current, cache_dir)
    if name not in DEFAULTS:
        raise ConfigError(f"eval.first_stages contains unknown first stage {name!r}: use bm25, dense (or run with retriever=trec_run)")
    if current_kind == name:
        return build_retriever(current, cache_dir)
    return build_retriever(DEFAULTS[name], cache_dir)
