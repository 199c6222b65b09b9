"""train.fast_dropout: torch's dropout distribution with masks drawn by torch.rand, in training only."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_dropout import _model, _two_training_forwards
from tests.test_training import compose_cfg


def _feats(model):
    return dict(model.tokenizer(["what is a flat plate"] * 3, ["a boundary layer on a flat plate", "heat", "a shock wave"],
                                padding=True, return_tensors="pt"))


def test_keep_mask_keeps_each_element_with_probability_one_minus_p_scaled_to_keep_the_mean():
    from rerankft.modeling.fast_dropout import keep_mask

    torch.manual_seed(0)
    mask = keep_mask(torch.zeros(400_000), 0.1)
    kept = mask > 0
    assert abs(kept.float().mean().item() - 0.9) < 0.003  # 0.9 +- 6 standard errors
    assert torch.allclose(mask[kept], torch.tensor(1 / 0.9))
    assert abs(mask.mean().item() - 1.0) < 0.004  # inverted dropout: the expectation is unchanged


def test_with_every_mask_all_ones_the_rerouted_attention_computes_what_sdpa_computes(monkeypatch):
    from rerankft.modeling import fast_dropout as fd

    model = _model()
    feats = _feats(model)
    model.eval()
    with torch.no_grad():
        want = model(dict(feats))["scores"]
    calls = []

    def ones(x, p):
        calls.append(tuple(x.shape))
        return torch.ones_like(x)

    monkeypatch.setattr(fd, "keep_mask", ones)
    with fd.fast_dropout(model, True):
        model.train()  # dropout 0.1 is on, so the eager path and the swapped modules draw (all-ones) masks
        with torch.no_grad():
            got = model(dict(feats))["scores"]
    assert torch.allclose(got, want, atol=1e-5), (got, want)
    attention = [s for s in calls if len(s) == 4]
    assert len(attention) == 6 and len(calls) == 6 + 13  # 6 layers' attention, then the embeddings' and 2 per layer


def test_the_block_draws_masks_in_training_leaves_eval_untouched_and_restores_the_model():
    from rerankft.modeling.fast_dropout import ATTENTION, fast_dropout

    model = _model()
    feats = _feats(model)
    config = model[0].model.config
    model.eval()
    with torch.no_grad():
        before = model(dict(feats))["scores"]
    with fast_dropout(model, True):
        assert config._attn_implementation == ATTENTION
        with torch.no_grad():
            assert torch.equal(model(dict(feats))["scores"], before)  # eval: SDPA itself, bit for bit
        a, b = _two_training_forwards(model)
        assert not torch.equal(a, b)  # training draws masks
    assert config._attn_implementation == "sdpa"
    assert all(type(m) is torch.nn.Dropout for m in model.modules() if isinstance(m, torch.nn.Dropout))
    with fast_dropout(model, False):  # off: nothing changes
        assert config._attn_implementation == "sdpa"
    model.to("meta")  # weights off the CPU (as on a GPU): a CPU setting, so nothing changes
    with fast_dropout(model, True):
        assert config._attn_implementation == "sdpa"
        assert all(type(m) is torch.nn.Dropout for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_a_training_step_in_the_block_learns_and_the_saved_config_names_no_custom_attention(tmp_path):
    from rerankft.modeling.fast_dropout import ATTENTION, fast_dropout

    model = _model()
    feats = _feats(model)
    start = [p.detach().clone() for p in model.parameters()]
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with fast_dropout(model, True):
        model.train()
        loss = torch.nn.functional.cross_entropy(model(dict(feats))["scores"].view(1, 3) * 20, torch.tensor([0]))
        loss.backward()
        optim.step()
        model.save_pretrained(str(tmp_path / "m"))  # a checkpoint saved mid-training
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(start, model.parameters()))
    saved = (tmp_path / "m").rglob("config.json")
    assert all(ATTENTION not in p.read_text() for p in saved)
    assert all("attn_implementation" not in json.loads(p.read_text()) for p in (tmp_path / "m").rglob("config.json"))


@pytest.mark.parametrize("value", ["1", "'yes'", "0.5"])
def test_bad_fast_dropout_is_a_config_error_naming_the_key(value):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with pytest.raises(ConfigError, match="train.fast_dropout"):
        validate_config(compose_cfg(f"train.fast_dropout={value}"))
