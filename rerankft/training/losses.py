"""Losses from the ``loss/`` config group, and the training rows each one needs.

A loss YAML names the sentence-transformers class (``_target_``), the row ``format`` it
trains on (see ``MiningResult.to_dataset``) and its constructor arguments. Two arguments
are computed here because they depend on the data, not on the user:

* BCE ``pos_weight: null`` -> negatives per positive in the training pairs, so both
  classes carry the same total weight;
* MNRL / cached MNRL ``num_negatives`` (in-batch negatives per query) is capped at
  ``batch_size - 1``: a batch cannot lend more other-query passages than it has.
"""

from __future__ import annotations

import logging
import math

import torch
from omegaconf import DictConfig, OmegaConf
from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss

from rerankft.core.errors import ConfigError
from rerankft.mining.rows import (
    FORMATS,  # the row formats the miner produces: the one list
    LIST_FORMATS,
)
from rerankft.scoring.loading import load_cross_encoder

log = logging.getLogger("rerankft")


# Keys of a loss YAML that describe the loss to rerankft, not arguments of the loss class.
META_KEYS = ("name", "format", "teacher", "teacher_lists", "_target_", "grade_weights", "residual")


def loss_format(cfg_loss: DictConfig) -> str:
    fmt = cfg_loss.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"loss.format={fmt!r} is unknown: use one of {', '.join(FORMATS)}")
    return fmt


def loss_class(cfg_loss: DictConfig):
    from hydra.utils import get_class

    target = cfg_loss.get("_target_")
    if not target:
        raise ConfigError("loss._target_ is missing: name a loss class, e.g. sentence_transformers.cross_encoder.losses.BinaryCrossEntropyLoss")
    try:
        return get_class(target)
    except Exception as e:
        raise ConfigError(f"loss._target_={target!r} cannot be imported ({e})") from None


def positive_share(train_dataset) -> float:
    """Share of positive rows in a ``pairs`` dataset (label 1)."""
    labels = train_dataset["label"]
    return float(sum(1 for y in labels if y > 0.5) / max(1, len(labels)))


def bce_prior_loss(p: float, pos_weight: float = 1.0) -> dict[str, float]:
    """The loss of the best *constant* predictor: what BCE must beat to have learned anything from the text.

    With weight w on positives the weighted loss of a constant probability s is
    -(p w ln s + (1-p) ln(1-s)), minimised at s = p w / (p w + 1 - p). With w = 1 this is the
    class-prior entropy -p ln p - (1-p) ln(1-p).
    """
    if not 0.0 < p < 1.0:
        return {"positive_share": p, "prior_entropy": 0.0, "prior_loss": 0.0}
    entropy = -p * math.log(p) - (1 - p) * math.log(1 - p)
    s = p * pos_weight / (p * pos_weight + 1 - p)
    prior_loss = -(p * pos_weight * math.log(s) + (1 - p) * math.log(1 - s))
    return {"positive_share": p, "pos_weight": pos_weight, "prior_entropy": entropy, "prior_loss": prior_loss}


def build_loss(cfg_loss: DictConfig, model, train_dataset, batch_size: int) -> tuple[torch.nn.Module, dict]:
    """Instantiate the configured loss for ``model``; returns (loss, the arguments actually used).

    We call the class ourselves instead of ``hydra.utils.instantiate`` because computed
    arguments (a tensor ``pos_weight``) cannot pass through an OmegaConf node.
    """
    cls = loss_class(cfg_loss)
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg_loss, resolve=True).items() if k not in META_KEYS}
    name = cls.__name__
    if name == "BinaryCrossEntropyLoss":
        if kwargs.get("pos_weight") is None:
            p = positive_share(train_dataset)
            kwargs["pos_weight"] = (1 - p) / p if p > 0 else 1.0
        kwargs["pos_weight"] = torch.tensor(float(kwargs["pos_weight"]))
    if name in ("MultipleNegativesRankingLoss", "CachedMultipleNegativesRankingLoss"):
        wanted = kwargs.get("num_negatives", 4)
        if wanted is not None and wanted > batch_size - 1:
            log.warning("loss.num_negatives=%s > train.batch_size-1; using %d in-batch negatives", wanted, batch_size - 1)
            kwargs["num_negatives"] = max(0, batch_size - 1)
    try:
        loss = cls(model=model, **kwargs)
    except TypeError as e:
        raise ConfigError(f"loss '{cfg_loss.get('name')}' ({cfg_loss._target_}): bad argument in configs/loss: {e}") from None
    used = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    return loss, used


def pairs_per_example(fmt: str, train_dataset) -> float:
    """How many (query, passage) forward passes one training row costs (for pairs/s)."""
    if fmt == "pairs":
        return 1.0
    if fmt == "distill":
        return 2.0
    if fmt == "ntuples":  # query, positive, negatives (and a grade-weight label column, no pair)
        return float(len([c for c in train_dataset.column_names if c not in ("query", "label")]))
    if fmt in LIST_FORMATS:
        docs = train_dataset["docs"]
        return float(sum(len(d) for d in docs) / max(1, len(docs)))
    return 1.0


def query_passage_pairs(fmt: str, train_dataset) -> list[tuple[str, str]]:
    """Every (query, passage) pair the rows contain (used to count truncation)."""
    cols = train_dataset.column_names
    pairs: list[tuple[str, str]] = []
    for row in train_dataset:
        q = row["query"]
        if fmt in LIST_FORMATS:
            pairs.extend((q, d) for d in row["docs"])
        else:
            pairs.extend((q, row[c]) for c in cols if c not in ("query", "label", "labels") and isinstance(row[c], str))
    return pairs


def load_teacher(cfg_teacher: DictConfig, max_length: int | None):
    """The distillation teacher: a cross-encoder (hub id or local folder) with a one-logit head."""
    name = (cfg_teacher or {}).get("name")
    if not name:
        raise ConfigError("loss.teacher.name is missing: margin_mse needs a teacher cross-encoder (hub id or folder)")
    # load_cross_encoder gives the same clear ModelError for a missing folder or an unreachable hub id
    return load_cross_encoder(name, max_length=max_length)


def add_teacher_scores(train_dataset, cfg_teacher: DictConfig, max_length: int | None):
    """Add ``label`` = [teacher(q, positive), teacher(q, negative)] raw logits to ``distill`` rows.

    MarginMSELoss turns [pos, neg] into the target margin pos - neg; logits (not sigmoid
    scores) keep the margins unsquashed, which is what Hofstaetter et al. distil.
    """
    teacher = load_teacher(cfg_teacher, max_length)
    batch_size = int((cfg_teacher or {}).get("batch_size") or 32)
    q, pos, neg = train_dataset["query"], train_dataset["positive"], train_dataset["negative"]
    pairs = list(zip(q, pos)) + list(zip(q, neg))
    scores = teacher.predict(pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    n = len(q)
    labels = [[float(scores[i]), float(scores[n + i])] for i in range(n)]
    del teacher
    return train_dataset.add_column("label", labels)


class HardNegativesMNRL(MultipleNegativesRankingLoss):
    """Softmax cross-entropy over each positive and its *mined* negatives only.

    sentence-transformers' MNRL always adds in-batch negatives (``num_negatives=0`` is
    rejected by torch.multinomial). For a cross-encoder each of them is a full forward
    pass, and when a query has several positives, rows of the same query share a batch,
    so an "in-batch negative" can be another positive of that very query. The mined
    negatives already exclude every judged positive, so we use those alone.
    """

    def get_in_batch_negatives(self, anchors, candidates):
        return iter(())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One cross-entropy per row, averaged in calculate_loss: plain, or weighted by the rows' grades.
        self.cross_entropy_loss = torch.nn.CrossEntropyLoss(reduction="none")
        self._row_weights = None
        self.offsets: dict[tuple[str, str], float] = {}  # loss.residual: fixed per-pair logit offsets

    def call_model_with_columns(self, anchors, candidates, prompt=None, task=None):
        logits = super().call_model_with_columns(anchors, candidates, prompt=prompt, task=task)
        if not self.offsets:
            return logits
        # rerankft.training.residual: each logit plus its pair's b * z_bm25 (0 for a pair it has no score of)
        extra = torch.tensor([self.offsets.get((a, c), 0.0) for a, c in zip(anchors, candidates)], device=logits.device)
        return logits.float() + extra

    def forward(self, inputs, labels=None, prompt=None, task=None):
        # Rows with a ``label`` column (``loss.grade_weights=true``) carry a weight each: the positive's grade.
        self._row_weights = labels if isinstance(labels, torch.Tensor) and labels.ndim == 1 else None
        return super().forward(inputs, labels, prompt=prompt, task=task)

    def calculate_loss(self, logits, batch_size: int):
        per_row = super().calculate_loss(logits, batch_size)
        if self._row_weights is None:
            return per_row.mean()
        return (per_row * self._row_weights.to(per_row.dtype).to(per_row.device)).mean()  # weights average 1 over the data

    def get_config_dict(self):
        return {**super().get_config_dict(), "num_negatives": 0}
