"""Dev-only: does denoising auto-encoder pre-training on the corpus (TSDAE) improve the starting bi-encoder?

    python benchmarks/bench_tsdae.py outputs/train/<run> [--steps 500] [--lr 3e-5] [--batch 8] [--seed 42] [--save <folder>]

TSDAE (Wang et al. 2021) adapts a sentence encoder to a domain with no labels: each corpus sentence
loses 60% of its words, the encoder embeds what is left, and a decoder tied to the encoder has to
rebuild the sentence from that one vector. sentence-transformers has the loss
(``DenoisingAutoEncoderLoss``); this script only feeds it the run's corpus and measures the result.

The question is a gate for a lever: the cross-encoder starts from this bi-encoder (the gated
``segment_cosine`` head scores about like it before training), so a TSDAE step before the label-free
stage is worth building only if it lifts the bi-encoder itself. The measure is the bi-encoder's
dense retrieval nDCG@10 (top 100 of the whole corpus) on the run's dev queries, before and after,
in one process. No test query is read.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from rerankft.core.metrics import ndcg_at_10
from rerankft.data.dataset import training_split
from rerankft.data.loading import load_from_config
from rerankft.retrieval.factory import build_first_stage


def dense_dev(dense, dataset, dev_qrels: dict) -> float:
    """A dense first stage's nDCG@10 on the dev queries, retrieving the top 100 of the whole corpus."""
    return ndcg_at_10(dev_qrels, dense.retrieve(dataset, sorted(dev_qrels), k=100))


def sentences(dataset, min_words: int = 5) -> list[str]:
    """The corpus cut at sentence ends (a plain rule: the noise deletes words anyway); short pieces dropped."""
    out = []
    for doc_id in sorted(dataset.corpus):
        out += [s for s in re.split(r"(?<=[.!?])\s+", dataset.doc_text(doc_id)) if len(s.split()) >= min_words]
    return out


def delete_words(text: str, rng: random.Random, ratio: float = 0.6) -> str:
    """TSDAE's noise: each word deleted with probability ``ratio``, at least one kept."""
    words = text.split()
    return " ".join([w for w in words if rng.random() > ratio] or [rng.choice(words)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a train run directory (its config.yaml names the data and the model)")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--save", type=Path, default=None, help="also save the adapted bi-encoder here (a model folder)")
    ap.add_argument("--seed", type=int, default=None, help="sentence order, noise and training (default: the run's train.seed)")
    args = ap.parse_args(argv)

    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import (
        DenoisingAutoEncoderLoss,
    )
    from transformers import set_seed

    cfg = OmegaConf.load(args.run / "config.yaml")
    dataset = load_from_config(cfg.data)
    _, dev = training_split(dataset, cfg)
    # The run's own dense first stage (its retriever settings), uncached: the same figure the pipeline
    # reports for dense on dev; its model is then trained in place.
    dense = build_first_stage("dense", cfg, None)
    before = dense_dev(dense, dataset, dev)
    model = dense.model

    seed = cfg.train.seed if args.seed is None else args.seed
    rng = random.Random(seed)
    texts = sentences(dataset)
    rng.shuffle(texts)
    texts = texts[: args.steps * args.batch]
    data = Dataset.from_dict({"noisy": [delete_words(t, rng) for t in texts], "text": texts})
    model.max_seq_length, max_length = 64, model.max_seq_length  # sentences are short; the passages are not
    set_seed(seed)  # the decoder's LM head is new (the bi-encoder has none): its start is drawn here
    loss = DenoisingAutoEncoderLoss(model, tie_encoder_decoder=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_args = SentenceTransformerTrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch, learning_rate=args.lr, max_steps=args.steps,
            save_strategy="no", report_to=[], weight_decay=0.0, seed=seed, logging_steps=50)
        start = time.perf_counter()
        SentenceTransformerTrainer(model=model, args=train_args, train_dataset=data, loss=loss).train()
        seconds = time.perf_counter() - start
    model.max_seq_length = max_length
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.save or Path(tmp)  # --save: a start for the cross-encoder, model.name=<folder>
        model.save(str(folder))
        # the first stage a run with a fine-tuned bi-encoder reports ("dense-ft"): this folder, the same settings
        after = dense_dev(build_first_stage("dense-ft", cfg, None, {"dense": str(folder)}), dataset, dev)
    print(f"| {cfg.data.get('name') or Path(str(cfg.data.path)).name} | {len(dev)} | {len(texts)} sentences, "
          f"{args.steps} steps, lr {args.lr:g}, seed {seed} | {before:.4f} | {after:.4f} ({after - before:+.4f}) | {seconds:.0f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
