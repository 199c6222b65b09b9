"""Residual training (loss.residual): fixed BM25 offsets on the training logits."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from test_training import REPO, compose_cfg, make_dataset, make_mined

from rerankft.core.errors import ConfigError


def test_offsets_are_weighted_bm25_z_scores_of_the_rows_pairs(tmp_path):
    from rerankft.training.residual import bm25_offsets

    ds = make_dataset()
    mined = make_mined(ds, ["q0", "q1"])
    cfg = compose_cfg("loss.residual=1.0", f"cache_dir={tmp_path}")
    one = bm25_offsets(mined, cfg, 1.0)
    two = bm25_offsets(mined, cfg, 2.0)
    assert len(one) == 2 * 4  # each query: its positive and three negatives
    for qid, i in (("q0", 0), ("q1", 1)):
        q = ds.queries[qid]
        pos = one[(q, ds.doc_text(f"d{i}"))]
        negs = [one[(q, ds.doc_text(f"d{(i + k) % 12}"))] for k in (1, 2, 3)]
        assert pos > 0 > max(negs)  # the positive shares the topic word with the query, the others do not
    assert all(two[k] == pytest.approx(2 * v) for k, v in one.items())


def test_offsets_enter_the_loss_logits():
    from rerankft.modeling.build import build_cross_encoder
    from rerankft.training.losses import build_loss

    ds = make_dataset()
    cfg = compose_cfg()
    rows = make_mined(ds, ["q0", "q1", "q2", "q3"]).to_dataset("ntuples")
    torch.manual_seed(0)
    loss, _ = build_loss(cfg.loss, build_cross_encoder(cfg.model, 48), rows, 4)
    inputs = [rows["query"], rows["positive"], rows["negative_1"], rows["negative_2"], rows["negative_3"]]
    with torch.no_grad():
        plain = float(loss(inputs, None))
        loss.offsets = {(q, p): 10.0 for q, p in zip(rows["query"], rows["positive"])}
        helped = float(loss(inputs, None))
        loss.offsets = {(q, n): 10.0 for q, n in zip(rows["query"], rows["negative_1"])}
        hurt = float(loss(inputs, None))
    assert helped < plain < 0.1
    assert hurt > 1.0  # +10 on a negative outweighs the margin the model has


@pytest.mark.parametrize("overrides, match", [
    (["loss.residual=-1"], "loss.residual=-1"),
    (["loss.residual=yes"], "loss.residual='yes'"),
    (["loss=bce", "+loss.residual=1.0"], "needs loss=mnrl_hard"),
])
def test_bad_residual_settings_are_refused_naming_the_key(overrides, match):
    from rerankft.config import validate_config

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg)


def test_the_adaptation_stage_has_its_own_weight_or_the_losss():
    from rerankft.training.residual import residual_weight

    cfg = compose_cfg("loss.residual=1.5")
    assert residual_weight(cfg) == residual_weight(cfg, "adapt") == 1.5
    cfg = compose_cfg("loss.residual=1.5", "adapt.residual=0")
    assert (residual_weight(cfg), residual_weight(cfg, "adapt")) == (1.5, 0.0)
    assert residual_weight(compose_cfg()) == 0.0  # the default: off


def test_a_negative_adaptation_weight_is_refused():
    from rerankft.config import validate_config

    with pytest.raises(ConfigError, match="adapt.residual=-2"):
        validate_config(compose_cfg("adapt.residual=-2"))


def test_an_adaptation_weight_needs_a_loss_that_takes_offsets():
    from rerankft.config import validate_config

    with pytest.raises(ConfigError, match="adapt.residual=1.0 needs loss=mnrl_hard"):
        validate_config(compose_cfg("loss=bce", "adapt.residual=1.0"))
