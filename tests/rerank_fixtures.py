"""Small cross-encoders for the reranking tests, built once per test process.

* ``random_head_model_dir``: the packaged MiniLM saved as a CrossEncoder with a seeded,
  randomly initialised head: loads like any tuned reranker, scores are meaningless.
* ``tuned_model_dir``: the same, fine-tuned for a few dozen steps on synthetic pairs so it
  really ranks a relevant passage above an irrelevant one (what the integration tests check).
* ``tuned_segment_cosine_model_dir``: the offline default's head (``segment_cosine``), tuned
  the same way and saved the way training saves it (portable: loads without rerankft).

Both are cached per process (``lru_cache``) so several test modules share one build.
"""

from __future__ import annotations

import atexit
import functools
import os
import random
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# (query, relevant passage) on distinct topics; an irrelevant passage is another topic's.
TOPICS = [
    ("how do aircraft wings generate lift", "Aircraft wings generate lift because the airfoil deflects air downward and lowers the pressure above the wing."),
    ("how to bake sourdough bread", "To bake sourdough bread, mix flour, water and starter, let the dough rise overnight and bake it in a hot oven."),
    ("what causes ocean tides", "Ocean tides are caused by the gravitational pull of the moon and the sun on the oceans of the earth."),
    ("how to treat a sprained ankle", "Treat a sprained ankle with rest, ice, compression and elevation, and see a doctor if it does not heal."),
    ("how does a refrigerator keep food cold", "A refrigerator keeps food cold by pumping refrigerant that absorbs heat inside and releases it outside."),
    ("when did the roman empire fall", "The western roman empire fell in 476 when the last emperor was deposed by germanic chieftain odoacer."),
    ("how do vaccines train the immune system", "Vaccines train the immune system by exposing it to a harmless antigen so it builds antibodies and memory cells."),
    ("what is the boiling point of water", "Water boils at 100 degrees celsius at sea level; the boiling point drops at higher altitude."),
    ("how to plant tomato seedlings", "Plant tomato seedlings deep in warm, sunny soil after the last frost and water them regularly."),
    ("how do solar panels produce electricity", "Solar panels produce electricity when sunlight frees electrons in silicon cells, creating a current."),
    ("why is the sky blue", "The sky is blue because air molecules scatter short blue wavelengths of sunlight more than red ones."),
    ("how to change a flat bicycle tire", "To change a flat bicycle tire, remove the wheel, lever off the tire, replace the inner tube and pump it up."),
]

MAX_LENGTH = 64


def _seed(seed: int = 0) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _base_cross_encoder():
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.names import resolve_model_name

    _seed(0)  # the scoring head is freshly initialised: seed it so every build is identical
    return CrossEncoder(resolve_model_name("sentence-transformers/all-MiniLM-L6-v2"), max_length=MAX_LENGTH, device="cpu")


@functools.lru_cache(maxsize=None)
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="rerankft-test-models-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # models are rebuilt per test process
    return root


@functools.lru_cache(maxsize=None)
def random_head_model_dir() -> str:
    path = _root() / "random-head"
    _base_cross_encoder().save_pretrained(str(path))
    return str(path)


@functools.lru_cache(maxsize=None)
def tuned_model_dir(steps: int = 40) -> str:
    """Fine-tune the random-head model on TOPICS: relevant pairs 1, cross-topic pairs 0 (~10-30 s on 2 cores)."""
    path = _root() / "tuned"
    _fine_tune(_base_cross_encoder(), steps).save_pretrained(str(path))
    return str(path)


@functools.lru_cache(maxsize=None)
def tuned_segment_cosine_model_dir(steps: int = 20, segment_gate: float | None = -4.0, passage_cls: bool = False) -> str:
    """The segment_cosine head on the packaged MiniLM, fine-tuned like ``tuned_model_dir``, saved portable;
    with the gated body as the default config builds it (``segment_gate=None``: full attention;
    ``passage_cls``: model.passage_cls)."""
    from rerankft.modeling.heads import (
        build_segment_cosine_cross_encoder,
        make_portable,
    )
    from rerankft.modeling.names import resolve_model_name

    _seed(0)
    name = resolve_model_name("sentence-transformers/all-MiniLM-L6-v2")
    model = build_segment_cosine_cross_encoder(name, MAX_LENGTH, segment_gate, passage_cls=passage_cls)
    model = _fine_tune(model, steps)
    path = _root() / ("tuned-segment-cosine" if segment_gate is None else f"tuned-segment-gated{segment_gate:g}")
    path = path.with_name(path.name + "-passage-cls") if passage_cls else path
    model.save_pretrained(str(path))
    assert make_portable(path, model)
    return str(path)


def _fine_tune(model, steps: int):
    import torch

    model.train()
    rng = random.Random(0)
    examples = []
    for i, (q, pos) in enumerate(TOPICS):
        examples.append((q, pos, 1.0))
        for j in rng.sample([k for k in range(len(TOPICS)) if k != i], 2):
            examples.append((q, TOPICS[j][1], 0.0))
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for step in range(steps):
        batch = rng.sample(examples, 12)
        feats = model.preprocess([(q, p) for q, p, _ in batch])
        logits = model(feats)["scores"].view(-1)
        loss = loss_fn(logits, torch.tensor([y for _, _, y in batch]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def relevant_and_irrelevant(i: int = 0) -> tuple[str, str, str]:
    """(query, relevant passage, irrelevant passage) from the training topics."""
    q, pos = TOPICS[i]
    return q, pos, TOPICS[(i + 5) % len(TOPICS)][1]
