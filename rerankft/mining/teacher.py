"""Training lists graded by the first stages: BM25 and the bi-encoder as a soft teacher.

Hard-negative rows treat every mined candidate as a zero, however close it is, and on a small
domain the candidates closest to a query are where its unjudged relevant passages live (which is
why the miner skips the first stage's top ranks). BM25 and the bi-encoder both grade those
candidates, and their fusion ranks a small domain better than either (the hybrid first stage).
Here a query's training example is a list: a positive, the teacher's top candidates and a few
drawn from the rest of its pool, each labelled ``(z(bm25) + z(dense)) / temperature`` (z over the
query's pool of both first stages' top ``depth``), the positive lifted to the pool's maximum.
ListNet then matches the model's softmax over the list to the teacher's, so the labels say which
passage is the answer and the teacher says how the rest compare (Mokrii et al. 2021 train BERT
rankers on BM25's pseudo-labels; Hofstaetter et al. 2020 distil a teacher's graded scores).

A stage trains on such lists when its loss has ``format: teacher_lists`` (``loss=teacher_listnet`` for
both stages; ``adapt.loss`` for the label-free stage alone): the labelled stage one list per
(query, judged positive), never holding another positive of that query; the label-free stage one
list per pseudo-query (its source passage and the source's near-duplicates as positives).
sentence-transformers' ``mine_hard_negatives`` keeps one retriever's ranks and no second signal,
so the lists are built here.
"""

from __future__ import annotations

import numpy as np

from rerankft.core.errors import ConfigError
from rerankft.core.runs import zscores
from rerankft.core.settings import select, stage_loss
from rerankft.retrieval.factory import SIGNALS, build_first_stage

FORMAT = "teacher_lists"  # the loss format (``loss.format``) that trains on these lists


def check_teacher_settings(cfg_teacher, shape, shape_key: str, key: str = "loss.teacher_lists") -> tuple[int, float, int, int]:
    """(depth, temperature, top, drawn) from ``key`` (``loss.teacher_lists`` or ``adapt.loss.teacher_lists``)
    and a list shape; one ConfigError naming the key."""
    depth, temperature = cfg_teacher.get("depth"), cfg_teacher.get("temperature")
    signals = list(cfg_teacher.get("signals") or [])
    if not signals or any(s not in SIGNALS for s in signals):
        raise ConfigError(f"{key}.signals={signals!r} is invalid: expected a non-empty list of {', '.join(SIGNALS)}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ConfigError(f"{key}.depth={depth!r} is invalid: expected an integer >= 2")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ConfigError(f"{key}.temperature={temperature!r} is invalid: expected a number > 0")
    mass = cfg_teacher.get("positive_mass")
    if mass is not None and (isinstance(mass, bool) or not isinstance(mass, (int, float)) or not 0 < mass < 1):
        raise ConfigError(f"{key}.positive_mass={mass!r} is invalid: expected null or a number between 0 and 1")
    values = list(shape) if shape is not None and not isinstance(shape, (str, int, float)) else None
    if (values is None or len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values)
            or sum(values) < 1):
        raise ConfigError(f"{shape_key}={shape!r} is invalid: expected [top, drawn], two integers >= 0, at least one candidate")
    return depth, float(temperature), int(values[0]), int(values[1])


def _graded_stages(cfg) -> list[str]:
    """The training stages whose loss trains on graded lists ("labelled", "adapt")."""
    stages = ["labelled"] if select(cfg, "adapt.kind", "none") == "none" else ["labelled", "adapt"]
    return [s for s in stages if select(stage_loss(cfg, s), "format") == FORMAT]


def teacher_signals(cfg) -> dict:
    """The teacher's first stages by name for every stage that trains on graded lists, else {} (nothing to build)."""
    names = [n for s in _graded_stages(cfg) for n in stage_loss(cfg, s).teacher_lists.signals]
    return {name: build_first_stage(name, cfg, select(cfg, "cache_dir", None)) for name in dict.fromkeys(names)}


def teacher_lists(dataset, qrels: dict, teachers: dict, cfg_teacher, shape, seed: int, per_positive: bool,
                  shape_key: str = "loss.teacher_lists.list") -> dict[str, list]:
    """``{"query", "docs", "labels"}`` columns (ListNet's format) for ``qrels``' queries.

    ``per_positive``: one list per (query, judged positive), else one per query with all its positives.
    """
    depth, temperature, top, drawn = check_teacher_settings(cfg_teacher, shape, shape_key)
    mass = cfg_teacher.get("positive_mass")
    qids = sorted(qrels)
    runs = [r.retrieve(dataset, qids, k=depth) for r in teachers.values()]
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {"query": [], "docs": [], "labels": []}
    for q in qids:
        positives = [d for d, grade in qrels[q].items() if grade > 0]
        pool = list(dict.fromkeys([*positives, *(d for run in runs for d in run.get(q, {}))]))
        if not positives or len(pool) == len(positives):
            continue
        pairs = [(q, d) for d in pool]
        zs = [zscores(dict(zip(pool, map(float, r.score_pairs(dataset, pairs))))) for r in teachers.values()]
        score = {d: sum(z[d] for z in zs) for d in pool}  # the fusion's own z rule (rerankft.core.runs.zscores)
        judged = set(positives)
        others = sorted((d for d in pool if d not in judged), key=lambda d: -score[d])
        for group in ([[p] for p in positives] if per_positive else [positives]):
            rest = others[top:]
            picked = others[:top] + [rest[i] for i in sorted(rng.choice(len(rest), min(drawn, len(rest)), replace=False))]
            labels = [float(score[d]) / temperature for d in picked]
            cols["query"].append(dataset.queries[q])
            cols["docs"].append([dataset.doc_text(d) for d in group + picked])
            cols["labels"].append([_positive_label(score, labels, temperature, mass)] * len(group) + labels)
    if not cols["query"]:
        raise ConfigError(f"{dataset.name}: no query had a candidate besides its positives to grade; use another loss (loss=mnrl_hard)")
    return cols


def grade_lists(mined, qrels: dict, teachers: dict, cfg, pseudo: bool) -> None:
    """Set ``mined.lists`` to the teacher's lists for ``mined``'s dataset (nothing without teachers).

    Labelled rows: one list per (query, positive), ``loss.teacher_lists.list`` long; pseudo-queries: one
    list per pseudo-query, ``adapt.lists`` long (more candidates: a pseudo-query has one answer).
    """
    stage = "adapt" if pseudo else "labelled"
    if not teachers or stage not in _graded_stages(cfg):
        return
    settings = stage_loss(cfg, stage).teacher_lists
    shape, key = (cfg.adapt.get("lists"), "adapt.lists") if pseudo else (settings.get("list"), "loss.teacher_lists.list")
    mine = {name: teachers[name] for name in settings.signals}  # this stage's own signals
    mined.lists = teacher_lists(mined.dataset, qrels, mine, settings, shape, int(cfg.train.seed),
                                per_positive=not pseudo, shape_key=key)


def _positive_label(score: dict, negatives: list[float], temperature: float, mass: float | None) -> float:
    """A positive's label: the pool's best teacher score (``mass`` null), or the label whose softmax share of
    its list is ``mass`` against the negatives' labels, whatever the teacher thinks of them."""
    if mass is None:
        return float(max(score.values()) / temperature)  # a positive is the answer: never below another candidate
    others = float(np.logaddexp.reduce(np.asarray(negatives))) if negatives else 0.0
    return others + float(np.log(mass / (1.0 - mass)))
