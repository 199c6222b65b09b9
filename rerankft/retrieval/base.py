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
import logging
import weakref
from pathlib import Path
from typing import Iterable

from rerankft.core.errors import ConfigError, DataError
from rerankft.core.settings import select

log = logging.getLogger(__name__)


# Defaults of configs/retriever/*.yaml, used by build_first_stage when the config in use names
# another retriever (eval benchmarks bm25 and dense whatever `retriever=` says).
# The first stages' settings live in configs/retriever/<kind>.yaml only; a first stage named in
# eval.first_stages that is not the run's own `retriever` group is built from that file.
RETRIEVER_CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "retriever"


def retriever_config(kind: str) -> dict:
    """configs/retriever/<kind>.yaml as a dict (ConfigError when rerankft's configs are not next to the package)."""
    from omegaconf import OmegaConf

    path = RETRIEVER_CONFIG_DIR / f"{kind}.yaml"
    if not path.is_file():
        raise ConfigError(f"no first-stage config {path}: run rerankft from its source checkout (configs/ next to rerankft/)")
    return OmegaConf.to_container(OmegaConf.load(path))


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
    try:
        return select(cfg, key, default)
    except ConfigError:  # '???': name the key as the user writes it
        raise ConfigError(f"retriever.{key} is not set (MissingMandatoryValue); give it on the command line, e.g. retriever.{key}=...") from None


def _check_counts(stage: str, settings: dict[str, object]) -> None:
    """Each of a first stage's count settings ({key: value}) an integer >= 1, or refused naming ``retriever.<key>``."""
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"retriever.{key}={value!r} is invalid for the {stage} first stage: expected an integer >= 1")


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


def _check_pairs(dataset, pairs) -> list[str]:
    """The pairs' query ids (sorted, each known); a document outside the corpus is refused by name."""
    for qid, doc_id in pairs:
        if doc_id not in dataset.corpus:
            raise DataError(f"document '{doc_id}' (query '{qid}') is not in the corpus of '{dataset.name}'")
    return _check_queries(dataset, sorted({q for q, _ in pairs}))


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
