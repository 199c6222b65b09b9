"""System names in every table, run file and metrics.json: one place for the pieces.

A first stage is named by itself (``bm25``, ``dense``, ``hybrid``, ``run``); a reranker of its
top-k candidates is ``<first stage>>><reranker>``; the best possible reordering of those
candidates is ``<first stage>>>oracle``; a reranker whose score is fused with first-stage
scores gets the ``+fusion`` suffix.
"""

from __future__ import annotations

from rerankft.core.settings import select

SEP = ">>"
ORACLE = "oracle"
FUSED = "+fusion"
SUFFIX = FUSED  # the name older code and tests import


def system(first_stage: str, reranker: str | None = None) -> str:
    """``system("bm25", "tuned")`` -> ``"bm25>>tuned"``; without a reranker the first stage alone."""
    return first_stage if reranker is None else f"{first_stage}{SEP}{reranker}"


def is_reranked(name: str) -> bool:
    """True for a reranker's system (``bm25>>tuned``), False for a first stage or an oracle row."""
    return SEP in name and not name.endswith(f"{SEP}{ORACLE}")


def first_stage_of(name: str) -> str:
    """``"bm25>>tuned+fusion"`` -> ``"bm25"``."""
    return name.split(SEP, 1)[0]


def reranker_of(name: str) -> str | None:
    """``"bm25>>tuned+fusion"`` -> ``"tuned+fusion"``; None for a first stage alone."""
    return name.split(SEP, 1)[1] if SEP in name else None


POOLS = ("all", "fused")  # dev.pool: which systems the final choice is made among


def dev_pool(cfg) -> str:
    """``dev.pool`` of a run's config; ``all`` for a run made before the key existed."""
    return str(select(cfg, "dev.pool", None) or "all")


def competing(names, pool: str = "all", keep=()) -> list[str]:
    """The systems among ``names`` that compete for the final choice under ``dev.pool``.

    ``all``: every one. ``fused``: a reranker alone (``bm25>>tuned``) drops out where its fused
    variant (``bm25>>tuned+fusion``) is among ``names``. Why: the fusion's weight grid holds tuned's
    share 1 (no signal weight), so the fused system contains the reranker alone, and a second
    system for the same model only gives the few dev queries one more system to favour by chance.
    ``keep`` (the prior) always competes. ``all`` stays the default: ``fused`` was a measured no on
    eight runs' dev queries (docs/experiments.md, "Which systems compete").
    """
    if pool not in POOLS:
        raise ValueError(f"unknown dev.pool {pool!r}: use one of {', '.join(POOLS)}")
    names, keep = list(names), set(keep)
    drop = {n for n in names if pool == "fused" and is_reranked(n) and not n.endswith(FUSED) and n + FUSED in names}
    return [n for n in names if n not in drop or n in keep]
