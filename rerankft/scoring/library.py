"""Rerankers from other libraries in the benchmark, through the ``rerankers`` library's one interface.

A user deciding whether fine-tuning pays compares the tuned model with what they would use
otherwise: an API reranker, FlashRank, a T5 or ColBERT reranker. ``rerankers`` already wraps all
of them behind ``rank(query, docs)``; this module only turns a benchmark entry into one of its
rankers and its answers into a run, so every entry is scored on the same candidates as ours.

Entries (in ``rerankers=[...]``; quote them on the command line):

* ``api:<provider>:<model>[@<url>]``: an API reranker (cohere, jina, voyage, mixedbread.ai,
  pinecone, isaacus, text-embeddings-inference); the key comes from ``<PROVIDER>_API_KEY``
  (``COHERE_API_KEY``, ``MIXEDBREAD_AI_API_KEY``, ...); ``@<url>`` replaces the provider's endpoint
  (a self-hosted server, a proxy).
* ``flashrank:<model>[@<folder>]``: a FlashRank model; ``@<folder>`` is the folder that holds
  ``<model>/`` (FlashRank's ``cache_dir``; offline it must already be there).
* ``rerankers:<model_type>:<model>``: any other ``rerankers`` model type (t5, colbert, lit5,
  rankllm, ...) with a local folder or a hub id.

Everything that can be checked without the network or a model (the syntax, the key, the
installed dependency, a local folder) is checked by :func:`preflight` before any data loads.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rerankft.core.errors import ConfigError
from rerankft.core.runs import Run, ranked_ids

PREFIXES = ("api:", "flashrank:", "rerankers:")
# The Python package each rerankers model type needs beyond rerankers itself.
NEEDS = {"flashrank": "flashrank", "colbert": "transformers", "t5": "transformers", "lit5": "fastchat",
         "rankllm": "rank_llm", "rankgpt": "litellm", "pylate": "pylate"}


@dataclass(frozen=True)
class LibrarySpec:
    kind: str  # api | flashrank | rerankers
    model_type: str  # the provider for api, "flashrank", or the rerankers model type
    model: str
    where: str | None = None  # api: endpoint url; flashrank: the cache folder

    @property
    def name(self) -> str:
        """The system name in reports: the entry without its endpoint or folder."""
        return f"{self.kind}:{self.model}" if self.kind == "flashrank" else f"{self.kind}:{self.model_type}:{self.model}"

    @property
    def key_variable(self) -> str:
        return re.sub(r"[^A-Z0-9]+", "_", self.model_type.upper()) + "_API_KEY"


def is_library_entry(entry: str) -> bool:
    return str(entry).startswith(PREFIXES)


def parse_entry(entry: str) -> LibrarySpec:
    """'api:cohere:rerank-v3.5@http://host/v1/rerank' -> LibrarySpec; a malformed entry is one clear error."""
    entry = str(entry).strip()
    kind, _, rest = entry.partition(":")
    rest, _, where = rest.partition("@") if kind != "rerankers" else (rest, "", "")
    if kind == "flashrank":
        model_type, model = "flashrank", rest
    else:
        model_type, _, model = rest.partition(":")
    if kind not in ("api", "flashrank", "rerankers") or not model_type or not model:
        raise ConfigError(f"rerankers: '{entry}' is malformed: use api:<provider>:<model>[@<url>], "
                          "flashrank:<model>[@<folder>] or rerankers:<model_type>:<model>")
    return LibrarySpec(kind, model_type.lower() if kind == "api" else model_type, model, where or None)


def preflight(spec: LibrarySpec) -> None:
    """What can fail before the network or a model: the key, the dependency, the folder."""
    if importlib.util.find_spec("rerankers") is None:
        raise ConfigError(f"rerankers: {spec.name} needs the rerankers library: pip install rerankers")
    if spec.kind == "api":
        from rerankers.models.api_rankers import URLS

        if spec.model_type not in URLS and not spec.where:
            raise ConfigError(f"rerankers: api provider '{spec.model_type}' is unknown: use one of {', '.join(sorted(URLS))}, "
                              "or give its endpoint as api:<provider>:<model>@<url>")
        if not os.environ.get(spec.key_variable):
            raise ConfigError(f"rerankers: {spec.name} needs an API key: set {spec.key_variable}")
        return
    package = NEEDS.get(spec.model_type)
    if package and importlib.util.find_spec(package) is None:
        raise ConfigError(f"rerankers: {spec.name} needs the '{package}' package: pip install \"rerankers[{spec.model_type}]\"")
    if spec.kind == "flashrank" and spec.where and not (Path(spec.where).expanduser() / spec.model).is_dir():
        raise ConfigError(f"rerankers: {spec.name}: no folder {Path(spec.where) / spec.model} "
                          "(flashrank:<model>@<folder> needs <folder>/<model>/)")


class LibraryReranker:
    """A ``rerankers`` ranker with the calls the benchmark makes (``score``, ``rerank_run``, ``uncached``) and ``stats``."""

    def __init__(self, spec: LibrarySpec):
        preflight(spec)
        self.spec, self.name, self.show_progress = spec, spec.name, None
        self.ranker = self._build(spec)
        self.stats = {"pairs": 0, "scored": 0, "cache_hits": 0, "seconds": 0.0, "backend": spec.kind,
                      "device": "remote" if spec.kind == "api" else "cpu"}

    @staticmethod
    def _build(spec: LibrarySpec):
        if spec.kind == "api":
            from rerankers.models.api_rankers import APIRanker

            return APIRanker(spec.model, api_key=os.environ[spec.key_variable], api_provider=spec.model_type,
                             url=spec.where, verbose=0)
        from rerankers import Reranker as LibraryFactory

        kwargs = {"cache_dir": str(Path(spec.where).expanduser())} if spec.kind == "flashrank" and spec.where else {}
        ranker = LibraryFactory(spec.model, model_type=spec.model_type, verbose=0, **kwargs)
        if ranker is None:  # rerankers prints why and returns None
            raise ConfigError(f"rerankers: {spec.name} could not be built (a missing dependency; see the lines above)")
        return ranker

    def _rank(self, query: str, texts: list[str]) -> np.ndarray:
        """Scores in input order. Listwise rankers without scores give -rank (higher is better)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        ranked = self.ranker.rank(query, texts, doc_ids=list(range(len(texts))))
        scores = np.full(len(texts), -np.inf, dtype=np.float64)
        for r in ranked.results:
            scores[int(r.document.doc_id)] = float(r.score) if ranked.has_scores and r.score is not None else -float(r.rank)
        return scores

    def score(self, pairs, desc: str | None = None) -> np.ndarray:
        """Scores for (query, passage) pairs in input order; one library call per query."""
        t0 = time.perf_counter()
        by_query: dict[str, list[int]] = {}
        for i, (q, _) in enumerate(pairs):
            by_query.setdefault(q, []).append(i)
        out = np.zeros(len(pairs), dtype=np.float64)
        for q, idx in by_query.items():
            out[idx] = self._rank(q, [pairs[i][1] for i in idx])
        self.stats["pairs"] += len(pairs)
        self.stats["scored"] += len(pairs)
        self.stats["seconds"] += time.perf_counter() - t0
        return out

    def rerank_run(self, dataset, run: Run, top_k: int, query_ids=None, desc: str | None = None) -> Run:
        from tqdm.auto import tqdm

        qids = list(run) if query_ids is None else [str(q) for q in query_ids]
        out: Run = {}
        for qid in tqdm(qids, desc=desc or self.name, unit="query", disable=self.show_progress is False):
            docs = ranked_ids(run.get(qid, {}))[:top_k]
            scores = self.score([(dataset.queries[qid], dataset.doc_text(d)) for d in docs])
            out[qid] = {d: float(s) for d, s in zip(docs, scores)}
        return out

    @contextmanager
    def uncached(self):
        """No progress bars inside the block (per-query latency), as ``Reranker.uncached``; there is no score cache here."""
        shown, self.show_progress = self.show_progress, False
        try:
            yield self
        finally:
            self.show_progress = shown
