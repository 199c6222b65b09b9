"""The bi-encoder's own fine-tune: the dense score the fusion reads, trained on the same mined rows.

Why: on these collections the final system is the tuned cross-encoder fused with BM25's and the
bi-encoder's scores, and the fit gives the bi-encoder's score most of the weight (Cranfield: 0.6
dense, 0.3 BM25, 0.1 tuned). The cross-encoder starts from the same checkpoint and, with its
gate, stays close to a fine-tuned bi-encoder, so the two signals overlap. Fine-tuning the
bi-encoder itself makes the signal with the largest weight better. It is off by default: the
setting that won on Cranfield's 27 dev queries (+0.046 for the bi-encoder alone) gained +0.006 on
its test queries and cost the fused system 0.023 there (configs/bi_encoder/mnrl.yaml, README "What
to expect"); with more labelled queries it may pay.

Everything here is sentence-transformers': ``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss`` (in-batch negatives plus each row's mined hard negative) and the
no-duplicates batch sampler (two rows of one query in a batch would be each other's false
negatives). The first stages bm25, dense and hybrid keep the untrained bi-encoder, so the baselines
every report compares against are those of a user who trained nothing; the tuned bi-encoder is the
fusion's dense signal and its own first stages, dense-ft and hybrid-ft (rerankft.retrieval.factory),
reported beside them and eligible as candidates on dev.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path

from omegaconf import DictConfig

from rerankft.core.distributed import world_size
from rerankft.core.errors import ConfigError
from rerankft.core.io import atomic_dir
from rerankft.core.runtime import is_main_process
from rerankft.training.train_log import InterruptCallback

log = logging.getLogger("rerankft")

def training_triples(mined):
    """(anchor, positive, negative) rows: each judged positive with its first mined hard negative."""
    rows = mined.to_dataset("ntuples", num_negatives=1)
    rows = rows.rename_columns({"query": "anchor", "negative_1": "negative"})
    if len(rows) == 0:
        raise ConfigError("bi_encoder: mining produced no (query, positive, negative) rows; use bi_encoder=none")
    return rows


def fit_bi_encoder(bi: DictConfig, model, mined, out_dir: Path, seed: int, precision: str) -> dict:
    """Fine-tune ``model`` in place on ``mined``; save it to ``out_dir``.

    ``model`` is a fresh copy of the dense first stage's SentenceTransformer (``DenseRetriever.model``:
    loaded, and a load failure reported, as for retrieval). Returns a summary for metrics.json.
    ``precision`` is ``train.precision`` (weights stay fp32). The cost is bounded by ``bi.max_steps``
    optimizer steps.
    """
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
    )
    from transformers import set_seed

    from rerankft.training.trainer import (
        resolve_precision,  # torch + sentence-transformers: imported when training
    )

    out_dir = Path(out_dir)
    set_seed(int(seed))
    if bi.get("max_seq_length"):
        model.max_seq_length = int(bi.max_seq_length)
    rows = training_triples(mined)
    flags = resolve_precision(precision)
    # transformers lets max_steps override the epochs; here it only caps them: the cost bound on a large collection.
    steps = min(int(bi.max_steps), math.ceil(len(rows) / int(bi.batch_size)) * max(1, int(bi.get("epochs", 1))))
    import torch

    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir.parent / "bi_encoder_checkpoints"),
        max_steps=steps,
        learning_rate=float(bi.learning_rate),
        warmup_steps=0.1,  # a ratio of all steps (transformers v5), as for the cross-encoder
        per_device_train_batch_size=int(bi.batch_size),
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        **flags,
        # As for the cross-encoder: a multi-process launch without CUDA needs use_cpu (gloo), and so does bf16 on a CPU.
        use_cpu=(world_size() > 1 or flags["bf16"]) and not torch.cuda.is_available(),
        seed=int(seed),
        data_seed=int(seed),
        save_strategy="no",
        eval_strategy="no",
        logging_steps=10,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    loss = MultipleNegativesRankingLoss(model)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=rows, loss=loss,
                                         callbacks=[InterruptCallback()])
    t0 = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - t0
    if is_main_process():
        with atomic_dir(out_dir) as tmp:  # a killed save never leaves a folder that looks finished
            trainer.model.save(str(tmp))
        with contextlib.suppress(OSError):
            (out_dir.parent / "bi_encoder_checkpoints").rmdir()  # made by the trainer; nothing is saved there
    trainer.accelerator.wait_for_everyone()
    summary = {"model_dir": str(out_dir), "rows": len(rows), "steps": int(trainer.state.global_step),
               "learning_rate": float(bi.learning_rate), "train_loss": round(float(output.training_loss), 4),
               "seconds": round(seconds, 1), "precision": {k: v for k, v in flags.items() if v} or "fp32"}
    log.info("bi-encoder fine-tuned: %d steps on %d rows in %.0f s, saved to %s", summary["steps"], len(rows), seconds, out_dir)
    return summary
