"""train.dropout: the encoder's dropout while it trains (null keeps the checkpoint's); adapt.dropout: the label-free stage's."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from tests.test_training import compose_cfg


def _model():
    from rerankft.modeling.build import build_cross_encoder

    return build_cross_encoder(OmegaConf.create({"name": "sentence-transformers/all-MiniLM-L6-v2", "head": "auto",
                                                 "segment_gate": -4.0, "passage_cls": False}), 48)


def _two_training_forwards(model) -> tuple[torch.Tensor, torch.Tensor]:
    feats = model.tokenizer(["what is a flat plate"] * 3, ["a boundary layer on a flat plate", "heat", "a shock wave"],
                            padding=True, return_tensors="pt")
    model.train()
    with torch.no_grad():
        return model(dict(feats))["scores"].clone(), model(dict(feats))["scores"].clone()


def test_dropout_zero_turns_every_dropout_off_and_null_keeps_the_checkpoints():
    from rerankft.modeling.dropout import set_dropout

    kept = _model()
    assert set_dropout(kept, None) is None
    a, b = _two_training_forwards(kept)
    assert not torch.equal(a, b)  # the checkpoint's 0.1: two training forwards differ

    model = _model()
    done = set_dropout(model, 0)
    assert done == {"dropout": 0.0, "modules": 19}  # embeddings + 6 layers x 3 in MiniLM
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    config = model[0].model.config
    assert config.hidden_dropout_prob == 0.0 and config.attention_probs_dropout_prob == 0.0  # what a saved folder records
    a, b = _two_training_forwards(model)
    assert torch.equal(a, b)


@pytest.mark.parametrize("key", ["train.dropout", "adapt.dropout"])
@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", "true", "'x'"])
def test_bad_dropout_is_a_config_error_naming_the_key(key, value):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with pytest.raises(ConfigError, match=key):
        validate_config(compose_cfg(f"{key}={value}"))


def test_dropout_during_sets_the_block_and_restores_modules_and_configs():
    from rerankft.modeling.dropout import dropout_during, set_dropout

    model = _model()
    set_dropout(model, 0.2)  # train.dropout=0.2: what the block must hand back
    config = model[0].model.config
    with dropout_during(model, 0):
        assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
        assert config.hidden_dropout_prob == 0.0
        a, b = _two_training_forwards(model)
        assert torch.equal(a, b)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.2}
    assert config.hidden_dropout_prob == 0.2 and config.attention_probs_dropout_prob == 0.2
    with dropout_during(model, None):  # null: nothing changes
        assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.2}
