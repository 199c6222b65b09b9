"""A shallower student of a tuned cross-encoder, distilled from its scores.

The student starts as a copy of the teacher with every other encoder layer kept (as DistilBERT
was initialised from BERT): embeddings, head and the kept layers carry the teacher's trained
weights, so the student starts close and distillation only has to repair what the dropped layers
did. It then learns the teacher's score margins on the run's own (query, positive, negative)
rows with sentence-transformers' ``MarginMSELoss`` (Hofstaetter et al. 2020): the teacher grades
every mined negative, so no label is needed beyond what mining used.

Half the layers is half the encoder's compute per pair; the student loads wherever the tuned
model loads (same folder layout, same head code).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from rerankft.core.errors import ConfigError, ModelError
from rerankft.core.io import atomic_dir
from rerankft.modeling.heads import make_portable

log = logging.getLogger("rerankft")


def kept_layers(n: int, layers: int) -> list[int]:
    """Which of the teacher's ``n`` layers the student keeps: ``layers`` evenly spread, the first always
    (every other one when ``layers`` = n / 2)."""
    if not isinstance(layers, int) or isinstance(layers, bool) or not 1 <= layers <= n:
        raise ConfigError(f"layers={layers!r}: give a number of encoder layers from 1 to the teacher's {n}")
    return [i * n // layers for i in range(layers)]


def _encoder_layers(hf_model) -> tuple[torch.nn.Module, str]:
    """The module holding the encoder's layer list (``encoder.layer`` in BERT-like models) and its attribute."""
    for _, module in hf_model.named_modules():
        for attr in ("layer", "layers"):
            found = getattr(module, attr, None)
            if isinstance(found, torch.nn.ModuleList) and len(found) == getattr(hf_model.config, "num_hidden_layers", -1):
                return module, attr
    raise ModelError(f"cannot find the encoder layers of {type(hf_model).__name__}: distillation by layer dropping "
                     "needs a BERT-like encoder (an `encoder.layer` list)")


def shallow_copy(teacher_dir: str | Path, layers: int, max_length: int | None = None):
    """The teacher loaded again with only ``kept_layers`` of its encoder; returns (student, kept indices)."""
    from rerankft.scoring.loading import load_cross_encoder

    student = load_cross_encoder(str(teacher_dir), max_length=max_length)
    hf = student.model
    holder, attr = _encoder_layers(hf)
    keep = kept_layers(len(getattr(holder, attr)), layers)
    setattr(holder, attr, torch.nn.ModuleList([getattr(holder, attr)[i] for i in keep]))
    hf.config.num_hidden_layers = len(keep)
    for new_index, layer in enumerate(getattr(holder, attr)):  # attention modules that know their index (caches)
        attn = getattr(getattr(layer, "attention", None), "self", None)
        if attn is not None and hasattr(attn, "layer_idx"):
            attn.layer_idx = new_index
    return student, keep


def train_student(student, rows, cfg_distill, out_dir: Path) -> dict:
    """MarginMSE on rows with columns query, positive, negative, label = [teacher(pos), teacher(neg)]; saves to ``out_dir``."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import MarginMSELoss
    from transformers import set_seed

    set_seed(int(cfg_distill.seed))
    ckpt = out_dir.parent / f".{out_dir.name}.checkpoints"
    args = CrossEncoderTrainingArguments(
        output_dir=str(ckpt), num_train_epochs=float(cfg_distill.epochs), max_steps=int(cfg_distill.max_steps),
        per_device_train_batch_size=int(cfg_distill.batch_size), learning_rate=float(cfg_distill.learning_rate),
        warmup_ratio=0.1, weight_decay=0.01, logging_steps=20, save_strategy="no", eval_strategy="no",
        report_to=[], seed=int(cfg_distill.seed), disable_tqdm=False, use_cpu=not torch.cuda.is_available(),
    )
    loss = MarginMSELoss(student, activation_fn=torch.nn.Identity())
    trainer = CrossEncoderTrainer(model=student, args=args, train_dataset=rows, loss=loss)
    t0 = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - t0
    with atomic_dir(out_dir) as tmp:
        student.save_pretrained(str(tmp))
        make_portable(tmp, student)
    log.info("student trained: %d steps on %d rows in %.0f s, saved to %s", out.global_step, len(rows), seconds, out_dir)
    return {"steps": int(out.global_step), "train_rows": len(rows), "train_seconds": round(seconds, 1),
            "train_loss": round(float(out.training_loss), 6)}


def distill_rows(run_cfg, dataset, train_qrels, retriever, cfg_distill):
    """The run's own rows as (query, positive, negative) with the teacher's [pos, neg] logits to come:
    its mined training rows and, with ``pseudo``, its pseudo-query rows; a seeded sample of ``max_rows``."""
    import datasets

    from rerankft.mining.miner import mine_hard_negatives
    from rerankft.mining.pseudo import SPLIT as PSEUDO_SPLIT
    from rerankft.mining.pseudo import (
        focus_passages,
        pseudo_miner,
        pseudo_query_dataset,
    )

    parts = [mine_hard_negatives(dataset, train_qrels, retriever, run_cfg.miner).to_dataset("distill")]
    if bool(cfg_distill.pseudo) and str(run_cfg.adapt.kind) != "none":
        focus = focus_passages(run_cfg.adapt, dataset, retriever, train_qrels)
        pseudo = pseudo_query_dataset(dataset, run_cfg.adapt, seed=int(run_cfg.train.seed), focus=focus)
        parts.append(mine_hard_negatives(pseudo, pseudo.split(PSEUDO_SPLIT), retriever,
                                         pseudo_miner(run_cfg.adapt, run_cfg.miner)).to_dataset("distill"))
    rows = datasets.concatenate_datasets(parts).shuffle(seed=int(cfg_distill.seed))
    return rows.select(range(min(len(rows), int(cfg_distill.max_rows)))), {"mined": len(parts[0]), "pseudo": sum(map(len, parts[1:]))}
