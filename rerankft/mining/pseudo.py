"""Label-free training data from the corpus itself: pseudo-queries made from passages.

The corpus is the resource a small domain has plenty of: thousands of passages, most with a
title, against a hundred labelled queries. Each sampled passage gives one pseudo-query:

* ``title``: its title -> its body (MacAvaney et al. 2017's headline -> content pairs);
* ``span``: a random span of its body -> the body without that span (the inverse cloze task,
  Lee et al. 2019; removing the span keeps the task from being exact string matching; the
  passage keeps that shortened text for every pseudo-query);
* ``auto``: title where the passage has one and a body left to match, span otherwise.

Every passage of the pseudo-collection is its body alone (titles dropped), so a title query
cannot be answered by finding its own words verbatim. Passages whose body equals the source's
(near-duplicates of it) count as positives of that pseudo-query, so mining never takes them as
negatives. Negatives then come from the configured first stage, exactly as for labelled queries.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from omegaconf import DictConfig, OmegaConf

from rerankft.core.errors import ConfigError
from rerankft.data.dataset import RetrievalDataset

SOURCES = ("auto", "title", "span")
FOCUS = ("corpus", "queries")  # adapt.focus: where the source passages are drawn from first
SPLIT = "pseudo"


def pseudo_miner(cfg_adapt, cfg_miner) -> DictConfig:
    """The miner settings for pseudo-queries: the labelled run's, with ``adapt.range_min`` if set and one round.

    The labelled miner skips the first stage's top ranks because unjudged relevant passages live
    there; a pseudo-query is answered by its source passage, so its top ranks are the strongest
    negatives it has, and this stage may take them (``adapt.range_min: 0``).
    """
    range_min = cfg_adapt.get("range_min")
    over: dict = {}
    if range_min is not None:
        over["range_min"] = int(range_min)
    if cfg_miner.get("rounds", 1) != 1:  # the stage's length is adapt.max_steps: one row per pseudo-query
        over["rounds"] = 1
    return OmegaConf.merge(cfg_miner, over) if over else cfg_miner


def _span(words: list[str], lo: int, hi: int, rng) -> tuple[str, str] | None:
    """(span, body without it), or None when the body is too short to leave text on both sides."""
    if len(words) < lo + 8:
        return None
    n = int(rng.integers(lo, min(hi, len(words) - 8) + 1))
    start = int(rng.integers(0, len(words) - n + 1))
    return " ".join(words[start:start + n]), " ".join(words[:start] + words[start + n:])


def focus_passages(cfg_adapt, dataset: RetrievalDataset, retriever, train_qrels) -> set[str] | None:
    """``adapt.focus=queries``: the passages the first stage ranks in its top ``adapt.focus_depth`` for the
    labelled training queries (their texts only: never pass dev queries, which judge the result); else None."""
    if cfg_adapt.get("focus", "corpus") != "queries":
        return None
    run = retriever.retrieve(dataset, sorted(train_qrels), k=int(cfg_adapt.focus_depth))
    return {d for ranked in run.values() for d in ranked}


def pseudo_query_dataset(dataset: RetrievalDataset, cfg_adapt, seed: int, focus=None) -> RetrievalDataset:
    """A collection of pseudo-queries over ``dataset``'s corpus, qrels in split ``pseudo``.

    ``focus`` (``adapt.focus=queries``: the passages the first stage ranks high for the labelled
    training queries): these are sampled first, in a seeded order, the rest of the corpus after them;
    None samples the whole corpus alike."""
    source = str(cfg_adapt.get("source", "auto"))
    if source not in SOURCES:
        raise ConfigError(f"adapt.source={source!r} is unknown: use one of {', '.join(SOURCES)}")
    n = int(cfg_adapt.get("passages", 400))
    lo, hi = (int(x) for x in cfg_adapt.get("span_words", [6, 16]))
    if n < 1 or not 1 <= lo <= hi:
        raise ConfigError(f"adapt.passages={n} / adapt.span_words=[{lo}, {hi}] are invalid: expected passages >= 1 and 1 <= lo <= hi")
    rng = np.random.default_rng(seed)
    bodies = {d: " ".join(str(doc.get("text") or "").split()) for d, doc in dataset.corpus.items()}
    same_body = defaultdict(list)
    for d, body in bodies.items():
        if body:
            same_body[body].append(d)
    ids = sorted(d for d, b in bodies.items() if b)
    corpus = {d: {"title": "", "text": bodies[d]} for d in ids}
    queries, qrels = {}, {}
    order = [ids[i] for i in rng.permutation(len(ids))]
    if focus is not None:  # a stable sort: the focus first, each part in the seeded order
        first = set(focus)
        order.sort(key=lambda d: d not in first)
    for d in order:
        if len(queries) >= n:
            break
        title = " ".join(str(dataset.corpus[d].get("title") or "").split())
        if source in ("auto", "title") and title and title.lower() != bodies[d].lower():
            query = title
        elif source in ("auto", "span"):
            cut = _span(bodies[d].split(), lo, hi, rng)
            if cut is None:
                continue
            query, rest = cut
            corpus[d] = {"title": "", "text": rest}  # the source passage loses its span in this collection
        else:
            continue
        qid = f"pseudo-{len(queries)}"
        queries[qid] = query
        qrels[qid] = {dup: 1 for dup in same_body[bodies[d]]} | {d: 1}
    if not queries:
        raise ConfigError(f"adapt: no pseudo-query could be made from {dataset.name}'s corpus "
                          f"(no titles, and no body longer than {lo + 8} words); use adapt=none")
    return RetrievalDataset(name=f"{dataset.name}-pseudo", corpus=corpus, queries=queries, qrels={SPLIT: qrels},
                            source=f"pseudo-queries ({source}) from {dataset.name}")
