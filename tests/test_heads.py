"""The segment_cosine head's saved folder is portable: it loads and scores the same without rerankft."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.rerank_fixtures import (
    TOPICS,
    tuned_model_dir,
    tuned_segment_cosine_model_dir,
)

PAIRS = [(q, p) for q, p in TOPICS[:3]] + [(TOPICS[0][0], TOPICS[4][1])]

# Runs in a fresh interpreter where `import rerankft` fails: only the folder's own file can help.
PROBE = """
import json, sys
sys.modules["rerankft"] = None
import torch
from sentence_transformers import CrossEncoder
from transformers import AutoModelForSequenceClassification, AutoTokenizer
path, pairs = sys.argv[1], json.loads(sys.argv[2])
st = CrossEncoder(path, trust_remote_code=True).predict(pairs).tolist()
model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True).eval()
tok = AutoTokenizer.from_pretrained(path)
enc = tok([q for q, _ in pairs], [p for _, p in pairs], padding=True, truncation=True, max_length=64, return_tensors="pt")
with torch.no_grad():
    hf = model(**enc).logits.squeeze(-1).tolist()
print(json.dumps({"st": st, "hf": hf}))
"""


@pytest.mark.parametrize("segment_gate", [None, -4.0], ids=["full-attention", "gated"])
def test_segment_cosine_folder_loads_without_rerankft_and_scores_the_same(segment_gate):
    from rerankft import Reranker

    path = tuned_segment_cosine_model_dir(segment_gate=segment_gate)
    modules = json.loads(open(f"{path}/modules.json").read())
    assert modules[-1]["type"] == "modeling_rerankft.SegmentCosineScore"
    assert modules[0]["type"].endswith("Transformer")
    if segment_gate is not None:
        assert modules[0]["type"] == "modeling_rerankft.SegmentGatedTransformer"
    config = json.loads(open(f"{path}/config.json").read())
    if segment_gate is not None:  # trained: the gate moved off its start, and the save recorded where to
        assert config["segment_gate"] != segment_gate
    assert config["auto_map"]["AutoModelForSequenceClassification"].startswith("modeling_rerankft.")
    want = Reranker(path).score(PAIRS)
    out = subprocess.run([sys.executable, "-c", PROBE, path, json.dumps(PAIRS)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert np.abs(np.array(got["st"]) - want).max() < 1e-4
    assert np.abs(np.array(got["hf"]) - want).max() < 1e-4
    assert want[0] > want[3]  # the relevant passage outranks another topic's


def test_make_portable_leaves_other_heads_alone(tmp_path):
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.heads import make_portable

    path = tuned_model_dir()
    assert make_portable(tmp_path, CrossEncoder(path)) is False
    assert not list(tmp_path.iterdir())


def test_closed_gate_starts_exactly_at_the_bi_encoder():
    """With cross-segment attention shut, the joint encoding's segment cosine is the bi-encoder's
    cosine up to the passage's missing [CLS] (within ~0.06 here); with full attention it is not."""
    import torch
    from sentence_transformers import SentenceTransformer

    from rerankft.modeling.heads import build_segment_cosine_cross_encoder
    from rerankft.modeling.names import resolve_model_name

    name = resolve_model_name("sentence-transformers/all-MiniLM-L6-v2")
    query = TOPICS[0][0]
    passages = [p for _, p in TOPICS]
    bi = SentenceTransformer(name)
    want = bi.similarity(bi.encode([query]), bi.encode(passages))[0].numpy()
    closed = build_segment_cosine_cross_encoder(name, 256, segment_gate=-1e4)
    assert closed[0].segment_gate.item() == -1e4  # the configured start, not the -4 fallback
    with torch.no_grad():
        got = closed.predict([(query, p) for p in passages]) / 20.0  # the head's initial scale
    closed_gap = np.abs(got - want).max()
    assert closed_gap < 0.08
    assert np.argmax(got) == np.argmax(want) == 0  # the query's own passage first
    full = build_segment_cosine_cross_encoder(name, 256)  # full attention from the start: far from it
    with torch.no_grad():
        full_gap = np.abs(full.predict([(query, p) for p in passages]) / 20.0 - want).max()
    assert full_gap > 2 * closed_gap, (full_gap, closed_gap)


def test_passage_cls_makes_a_shut_gate_score_exactly_as_the_bi_encoder_in_every_loader(tmp_path):
    """model.passage_cls: the passage segment gets its own [CLS], so with cross-attention shut the
    segment cosine equals the bi-encoder's cosine to float precision (without it, ~0.05 off), live,
    reloaded by sentence-transformers, through rerankft's padding engine and through transformers."""
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rerankft import Reranker
    from rerankft.modeling.heads import (
        build_segment_cosine_cross_encoder,
        make_portable,
    )
    from rerankft.modeling.names import resolve_model_name

    name = resolve_model_name("sentence-transformers/all-MiniLM-L6-v2")
    query = TOPICS[1][0]
    passages = [p for _, p in TOPICS] + ["short"]  # mixed lengths: padded rows in one batch
    bi = SentenceTransformer(name)
    want = bi.similarity(bi.encode([query]), bi.encode(passages))[0].numpy()
    pairs = [(query, p) for p in passages]
    model = build_segment_cosine_cross_encoder(name, 256, segment_gate=-1e4, passage_cls=True)
    with torch.no_grad():
        live = model.predict(pairs, batch_size=len(pairs)) / 20.0
    assert np.abs(live - want).max() < 1e-5
    model.save_pretrained(str(tmp_path))
    assert make_portable(tmp_path, model)  # as a train run saves it: loadable by transformers too
    assert json.loads((tmp_path / "config.json").read_text())["segment_passage_cls"] == model.tokenizer.cls_token_id
    reloaded = CrossEncoder(str(tmp_path), trust_remote_code=True).predict(pairs) / 20.0
    engine = Reranker(str(tmp_path), score_cache=False).score(pairs).ravel() / 20.0
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    hf = AutoModelForSequenceClassification.from_pretrained(str(tmp_path), trust_remote_code=True).eval()
    with torch.no_grad():
        logits = hf(**tok([q for q, _ in pairs], [p for _, p in pairs], padding=True, return_tensors="pt")).logits
    for got in (reloaded, engine, logits.ravel().numpy() / 20.0):
        assert np.abs(got - want).max() < 1e-5
    without = build_segment_cosine_cross_encoder(name, 256, segment_gate=-1e4)
    with torch.no_grad():
        assert np.abs(without.predict(pairs) / 20.0 - want).max() > 0.01  # the gap the token closes


def test_segment_cosine_models_take_the_tokenize_once_path_and_score_as_predict():
    """A feature-extraction body under a score head is padded by the engine itself (each pair
    tokenized once), across length-sorted batches of mixed lengths, with predict's scores."""
    from sentence_transformers import CrossEncoder

    from rerankft import Reranker
    from tests.test_rerank import mixed_pairs

    path = tuned_segment_cosine_model_dir(segment_gate=-4.0)
    engine = Reranker(path, score_cache=False, batch_tokens=2048)
    assert engine._fast_path
    pairs = mixed_pairs(60, seed=11)
    want = CrossEncoder(path, trust_remote_code=True).predict(pairs, batch_size=32)
    got = engine.score(pairs)
    assert engine.stats["batches"] > 1
    assert np.abs(got - want).max() < 1e-5


@pytest.mark.parametrize("start", [-2.0, -8.0])
def test_segment_gate_starts_where_configured_and_a_saved_folder_keeps_it(start, tmp_path):
    """model.segment_gate is the gate's start (transformers 5 drops undeclared config kwargs, which
    once left every start at -4 whatever the config said), and the saved folder reads it back."""
    from omegaconf import OmegaConf
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.build import build_cross_encoder

    cfg = OmegaConf.create({"name": "sentence-transformers/all-MiniLM-L6-v2", "head": "auto", "segment_gate": start})
    model = build_cross_encoder(cfg, 64)
    assert model[0].segment_gate.item() == start
    model.save(str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text())["segment_gate"] == start
    assert CrossEncoder(str(tmp_path), trust_remote_code=True)[0].segment_gate.item() == start


@pytest.mark.parametrize("model,message", [
    ({"segment_gate": -4.0, "passage_cls": "yes"}, "model.passage_cls='yes' is invalid"),
    ({"segment_gate": None, "passage_cls": True}, "model.passage_cls=true needs model.segment_gate"),
])
def test_passage_cls_setting_is_checked_before_anything_runs(model, message):
    from omegaconf import OmegaConf

    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        validate_config(OmegaConf.create({"model": {"name": "m", "head": "auto", **model}}))
    validate_config(OmegaConf.create({"model": {"name": "m", "head": "auto", "segment_gate": -4.0, "passage_cls": True}}))
