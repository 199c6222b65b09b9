"""Every config file in every group composes with its primary config (Hydra compose API)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Groups selectable on the command line, with the primary configs that use them.
GROUPS = {"data": ("train", "eval"), "model": ("train", "eval"), "retriever": ("train", "eval"),
          "miner": ("train",), "loss": ("train",), "adapt": ("train",), "bi_encoder": ("train",), "experiment": ("train",),
          "rerank": ("train", "eval", "rerank_file")}
REQUIRED = {"data/beir_local": ["data.path=/tmp/x"], "data/pairs_jsonl": ["data.path=/tmp/x.jsonl"],
            "data/beir_hub": ["data.name=scifact"], "retriever/trec_run": ["retriever.path=/tmp/run.trec"]}


def _cases():
    for group, primaries in GROUPS.items():
        for f in sorted((CONFIGS / group).glob("*.yaml")):
            for primary in primaries:
                yield primary, group, f.stem


@pytest.mark.parametrize("primary, group, option", list(_cases()))
def test_every_config_composes(primary, group, option):
    override = f"{group}={option}"
    extra = REQUIRED.get(f"{group}/{option}", [])
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=primary, overrides=[override, *extra], return_hydra_config=True)
    # Resolving catches broken interpolations (hydra.* and cache_dir need a running app).
    OmegaConf.set_struct(cfg, False)
    for key in ("hydra", "cache_dir"):
        del cfg[key]
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def test_every_group_is_covered():
    groups = {p.name for p in CONFIGS.iterdir() if p.is_dir()} - {"hydra", "hparams_search"}
    assert groups <= set(GROUPS), f"add new config groups to GROUPS: {groups - set(GROUPS)}"


@pytest.mark.parametrize("primary", ["train", "eval"])
def test_primary_configs_have_the_documented_keys(primary):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=primary)
    for key in ("data.kind", "model.name", "retriever.kind", "rerank.top_k", "rerank.backend", "train.seed"):
        assert OmegaConf.select(cfg, key) is not None, key
    if primary == "train":
        for key in ("loss.name", "train.learning_rate", "train.epochs", "train.max_steps", "train.batch_size",
                    "train.max_length", "miner.num_negatives", "hub.push", "hub.dry_run"):
            assert OmegaConf.select(cfg, key, default="<unset>") != "<unset>", key


@pytest.mark.parametrize("value, ok", [("dev", True), ("[bm25]", True), ("null", True), ("best", False)])
def test_rerank_first_stages_is_a_list_null_or_dev(value, ok):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=[f"eval.rerank_first_stages={value}", "eval.first_stages=[bm25,hybrid]"])
    if ok:
        validate_config(cfg)
    else:
        with pytest.raises(ConfigError, match="eval.rerank_first_stages"):
            validate_config(cfg)


@pytest.mark.parametrize("value, ok", [("null", True), ("3", True), ("2", True), ("1", False), ("true", False), ("three", False)])
def test_schedule_epochs_is_null_or_at_least_the_epochs_trained(value, ok):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["train.epochs=2", f"train.schedule_epochs={value}"])
    if ok:
        validate_config(cfg)
    else:
        with pytest.raises(ConfigError, match="train.schedule_epochs"):
            validate_config(cfg)


def test_a_key_added_with_plus_must_exist():
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["+train.learnin_rate=1e-5"])
        with pytest.raises(ConfigError, match=r"train.learnin_rate .*did you mean train.learning_rate"):
            validate_config(cfg)
        validate_config(compose(config_name="train", overrides=["+eval.permutations=100"]))  # eval.yaml's key
