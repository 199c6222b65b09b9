"""Dense first stage: a sentence-transformers bi-encoder, exact top-k by blocked matrix products, corpus
embeddings cached per corpus and model fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from rerankft.core import distributed
from rerankft.core.errors import ConfigError, DataError, ModelError
from rerankft.core.io import atomic_path, write_json
from rerankft.core.runs import Run
from rerankft.modeling.names import resolve_model_name
from rerankft.retrieval.base import (
    _cfg_get,
    _check_k,
    _check_queries,
    _file_sha256,
    corpus_fingerprint,
    retriever_config,
)

log = logging.getLogger(__name__)


# Documents encoded by any DenseRetriever in this process: tests and benchmarks read it to tell a
# cache hit from a re-encode without timing anything.
ENCODE_CALLS = {"docs": 0, "batches": 0}


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


# Corpora at least this large are encoded in shares across the ranks of a multi-process launch
# (retriever.shard_min_docs); smaller ones are encoded whole by every rank, which costs seconds
# and needs no collective call (a rank-0-only retrieval can never wait for the others).
SHARD_MIN_DOCS = 20_000


class DenseRetriever:
    """A SentenceTransformer bi-encoder with exact top-k over cached, normalised corpus embeddings.

    Scores are cosine similarities (dot products of L2-normalised embeddings), the scale the
    mining margins are written for.
    """

    name = "dense"

    def __init__(self, cfg, cache_dir):
        self.model_name = str(_cfg_get(cfg, "name", retriever_config("dense")["name"]))
        self.batch_size = int(_cfg_get(cfg, "batch_size", 64))
        self.block_size = int(_cfg_get(cfg, "block_size", 4096))
        self.use_faiss = bool(_cfg_get(cfg, "use_faiss", False))
        self.device = _cfg_get(cfg, "device", None) or distributed.device()
        self.shard_min_docs = int(_cfg_get(cfg, "shard_min_docs", SHARD_MIN_DOCS))
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
            # Under a multi-process launch a large corpus is split: each rank encodes its share on its
            # own device and the shares are gathered in order (every rank must reach this call).
            split = distributed.world_size() > 1 and len(texts) >= self.shard_min_docs
            mine = distributed.share(texts) if split else texts
            emb = np.asarray(self.model.encode_document(mine, batch_size=self.batch_size, convert_to_numpy=True,
                                                        normalize_embeddings=True, show_progress_bar=len(mine) > 5000),
                             dtype=np.float32).reshape(len(mine), -1)
            self.stats["encoded_docs"] += len(mine)
            ENCODE_CALLS["docs"] += len(mine)
            ENCODE_CALLS["batches"] += 1
            if split:
                emb = np.concatenate(distributed.gather(emb))
            if distributed.rank() == 0:  # one writer; the other ranks hold the same array in memory
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
