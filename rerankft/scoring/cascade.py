"""A cascade: a cheap scorer orders each query's candidates, the full reranker rescores only its top ``keep``.

Reranking the top 100 with the full model spends most of its time on candidates that end up
far below rank 10. A cheaper scorer of the same kind (the same model in int8 at a shorter
``max_length``, or a distilled shallower student) orders all of them first; the full model then
reads only the cheap scorer's top ``keep`` of each query. The final order is the full model's
on those ``keep``, followed by the rest in the cheap scorer's order, so nDCG@10 moves only when
the cheap scorer pushes one of the full model's top 10 below ``keep``
(``benchmarks/bench_rerank.py`` measures exactly that against the full model alone).

The tail's scores are the cheap scores shifted to sit below the lowest full score: each list's
order is exact, and the tail keeps the cheap scorer's spacing, so score fusion
(:mod:`rerankft.scoring.fusion`, z-scores per query) sees real differences there, not ranks.

Config (``rerank.cascade``, configs/rerank/default.yaml): ``backend``/``max_length`` of the cheap
pass on the same model, or ``model`` (a student folder) instead; ``keep``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from rerankft.core.errors import ConfigError
from rerankft.core.runs import Run, ranked_ids
from rerankft.scoring.reranker import STAT_COUNTERS


def check_keep(keep: Any) -> int:
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ConfigError(f"rerank.cascade.keep must be a positive integer (candidates the full model rescores), got {keep!r}")
    return keep


def _compose(full: dict[str, float], cheap: dict[str, float]) -> dict[str, float]:
    """The full model's scores on its documents, then the rest at their cheap scores shifted below them."""
    out = dict(full)
    rest = {d: s for d, s in cheap.items() if d not in full}
    if rest:
        floor = min(full.values()) if full else 0.0
        shift = max(rest.values()) - floor + 1.0  # the best tail document lands 1.0 below the lowest full score
        out.update({d: s - shift for d, s in rest.items()})
    return out


class Cascade:
    """``full`` reranks ``cheap``'s top ``keep`` per query; the same calls as :class:`~rerankft.scoring.reranker.Reranker`.

    Args:
        full: the reranker whose quality is wanted (a ``Reranker``).
        cheap: the fast scorer that orders every candidate first (a ``Reranker``: int8 backend,
            shorter max_length, or a student model).
        keep: candidates per query the full model rescores.
    """

    def __init__(self, full, cheap, keep: int):
        self.full, self.cheap, self.keep = full, cheap, check_keep(keep)
        self.name = f"{full.name} (cascade: {cheap.backend}@{cheap.max_length} top {keep})"

    # The attributes a benchmark or report reads from a reranker.
    @property
    def backend(self) -> str:
        return f"cascade({self.cheap.backend}@{self.cheap.max_length}->{self.full.backend} top {self.keep})"

    @property
    def model(self):
        return self.full.model

    @property
    def stats(self) -> dict:
        out = dict(self.full.stats)
        for k in STAT_COUNTERS:  # both stages' counters add up; settings are the full model's
            out[k] = self.full.stats.get(k, 0) + self.cheap.stats.get(k, 0)
        out["pairs"] = self.cheap.stats.get("pairs", 0)  # pairs asked for: every candidate goes through the cheap pass
        out["full_pairs"] = self.full.stats.get("pairs", 0)
        out["backend"] = self.backend
        return out

    def reset_stats(self) -> None:
        self.full.reset_stats()
        self.cheap.reset_stats()

    def score(self, pairs: Sequence[tuple[str, str]], desc: str | None = None) -> np.ndarray:
        """Scores of ONE query's candidate list (``pairs`` share the query): the full model's on the
        cheap scorer's top ``keep``, the cheap scores shifted below them for the rest."""
        pairs = list(pairs)
        if not pairs:
            return np.zeros((0,), dtype=np.float32)
        if len({q for q, _ in pairs}) > 1:
            raise ValueError("Cascade.score reorders one query's candidates; use rerank_run for several queries")
        cheap = np.asarray(self.cheap.score(pairs, desc=desc), dtype=np.float64)
        head = np.argsort(-cheap, kind="stable")[: self.keep]
        full = np.asarray(self.full.score([pairs[i] for i in head], desc=desc), dtype=np.float64)
        ids = [str(i) for i in range(len(pairs))]
        out = _compose({ids[i]: float(s) for i, s in zip(head, full)}, dict(zip(ids, cheap.tolist())))
        return np.array([out[i] for i in ids], dtype=np.float32)

    def rerank_run(self, dataset, run: Run, top_k: int, query_ids: Iterable[str] | None = None, desc: str | None = None) -> Run:
        """Each query's first-stage top ``top_k``: the cheap pass over all of them (batched across
        queries), then the full model over each query's best ``keep`` (batched across queries)."""
        qids = list(run) if query_ids is None else [str(q) for q in query_ids]
        cheap = self.cheap.rerank_run(dataset, run, top_k, query_ids=qids, desc=f"{desc or 'rerank'} (cheap pass)")
        heads = {q: {d: float(len(cheap[q]) - i) for i, d in enumerate(ranked_ids(cheap[q])[: self.keep])} for q in qids}
        full = self.full.rerank_run(dataset, heads, self.keep, query_ids=qids, desc=desc)
        return {q: _compose(full[q], cheap[q]) for q in qids}

    def uncached(self):
        from contextlib import ExitStack

        stack = ExitStack()
        stack.enter_context(self.full.uncached())
        stack.enter_context(self.cheap.uncached())
        return stack

    def describe(self) -> dict:
        return {**self.full.describe(), "cascade": {"cheap": self.cheap.describe(), "keep": self.keep}}

    def close(self) -> None:
        self.full.close()
        self.cheap.close()
