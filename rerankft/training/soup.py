"""One model from several: the uniform average of their weights (a "model soup", Wortsman et al. 2022).

Why: cross-fitting (``dev.folds=k``) trains k rerankers from the same start with the same settings,
each on a different k-1 folds of the training queries. Averaging their scores would cost k times
the scoring and would no longer be one model that loads everywhere; averaging their weights gives
one folder of the same architecture, which every stack the README shows loads as before.
Fine-tuned from one starting point, such models lie in one basin, where the average scores about
like the ensemble. sentence-transformers has no weight averaging, hence this module.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rerankft.core.io import atomic_dir
from rerankft.modeling.heads import make_portable
from rerankft.scoring.loading import load_cross_encoder
from rerankft.scoring.openvino import model_calibration_pairs, write_calibration_pairs

log = logging.getLogger("rerankft")


def average_models(model_dirs: list[Path], out_dir: Path) -> Path:
    """Save the uniform weight average of ``model_dirs`` (same architecture, same start) to ``out_dir``.

    Floating-point tensors are averaged; the rest (position ids, counters) must be equal and is
    kept. The folder is written as the trainer writes its model: portable head, and the first model's
    calibration pairs (what int8 quantisation calibrates on)."""
    import torch

    if not model_dirs:
        raise ValueError("average_models needs at least one model folder")
    models = [load_cross_encoder(str(d)) for d in model_dirs]
    states = [m.state_dict() for m in models]  # body, segment gate and head: every module of the folder
    averaged = {}
    for key, value in states[0].items():
        if torch.is_floating_point(value):
            averaged[key] = torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype)
        elif any(not torch.equal(s[key], value) for s in states[1:]):
            raise ValueError(f"{key} differs between the models and cannot be averaged: {[str(d) for d in model_dirs]}")
        else:
            averaged[key] = value
    models[0].load_state_dict(averaged)
    with atomic_dir(Path(out_dir)) as tmp:
        models[0].save_pretrained(str(tmp))
        make_portable(tmp, models[0])
        pairs = model_calibration_pairs(str(model_dirs[0]))
        if pairs:
            write_calibration_pairs(tmp, pairs)
    log.info("weights of %d models averaged into %s", len(model_dirs), out_dir)
    return Path(out_dir)
