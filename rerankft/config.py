"""Config checks that run before anything expensive: every error names the key and a fix."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rerankft.core.errors import ConfigError, ModelError
from rerankft.core.metrics import parse_measures
from rerankft.core.settings import select, stage_loss
from rerankft.core.systems import FUSED, POOLS, first_stage_of, reranker_of
from rerankft.data.dataset import dev_folds, dev_seed, train_queries
from rerankft.mining.pseudo import FOCUS, SOURCES
from rerankft.mining.rows import FORMATS
from rerankft.mining.teacher import FORMAT as TEACHER_FORMAT
from rerankft.mining.teacher import check_teacher_settings
from rerankft.modeling.build import passage_cls_setting
from rerankft.modeling.dropout import dropout_setting
from rerankft.modeling.freeze import decay_setting, freeze_setting
from rerankft.modeling.names import resolve_model_name
from rerankft.retrieval.factory import FIRST_STAGES, TUNABLE, TUNED_SUFFIX
from rerankft.scoring.fusion import FIT_RULES, fit_rule
from rerankft.scoring.library import is_library_entry
from rerankft.scoring.loading import BACKENDS
from rerankft.scoring.windows import check_windowing
from rerankft.training.windows import TRAIN_LONG_DOCS, WINDOW_PICKERS


def _positive_int(cfg: DictConfig, key: str, allow_minus_one: bool = False) -> None:
    value = select(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or (value <= 0 and not (allow_minus_one and value == -1)):
        extra = " (or -1 for no cap)" if allow_minus_one else ""
        raise ConfigError(f"{key}={value!r} is invalid: expected a positive integer{extra}")


def _boolean(cfg: DictConfig, key: str) -> None:
    """``key``: true, false or null (the default), or refused naming it."""
    value = select(cfg, key)
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is invalid: expected true or false")


def _positive_number(cfg: DictConfig, key: str) -> None:
    value = select(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key}={value!r} is invalid: expected a positive number")


def _check_schedule(cfg: DictConfig) -> None:
    """train.schedule_epochs: null, or a positive number at least as long as the epochs trained."""
    _positive_number(cfg, "train.schedule_epochs")
    value, epochs = select(cfg, "train.schedule_epochs"), select(cfg, "train.epochs")
    if value is not None and isinstance(epochs, (int, float)) and value < epochs:
        raise ConfigError(f"train.schedule_epochs={value!r} is invalid: expected null or a number of epochs >= train.epochs ({epochs})")


CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
PRIMARY = {"train": "train", "eval": "eval", "rerank": "rerank_file", "push": "push"}  # cfg.task -> configs/<file>.yaml
CHECKED_BLOCKS = ("train", "dev", "eval", "hub", "rerank")  # blocks with one fixed set of keys


def _check_known_keys(cfg: DictConfig) -> None:
    """A key added with ``+`` (``+train.learnin_rate=...``, as Hydra suggests for a typo) would be ignored
    silently: refuse keys the packaged configs do not define, naming the closest known one."""
    import difflib

    if str(select(cfg, "task", "")) not in PRIMARY:
        return
    known: dict[str, set] = {}  # a block's keys in any primary config (eval.permutations is eval.yaml's, read by train too)
    for name in PRIMARY.values():
        if (CONFIG_DIR / f"{name}.yaml").is_file():
            for k, v in OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"{name}.yaml")).items():
                if isinstance(v, dict):
                    known.setdefault(k, set()).update(v)
    rerank_defaults = CONFIG_DIR / "rerank" / "default.yaml"
    if rerank_defaults.is_file():
        known.setdefault("rerank", set()).update(OmegaConf.load(rerank_defaults).keys())
    for block in CHECKED_BLOCKS:
        if block not in known or not isinstance(cfg.get(block), DictConfig):
            continue
        for key in cfg[block]:
            if key not in known[block]:
                close = difflib.get_close_matches(str(key), sorted(known[block]), n=1)
                hint = f"; did you mean {block}.{close[0]}?" if close else f"; known keys: {', '.join(sorted(known[block]))}"
                raise ConfigError(f"{block}.{key} is not a setting rerankft knows{hint}")


def validate_config(cfg: DictConfig) -> None:
    _check_known_keys(cfg)
    for key in ("rerank.top_k", "rerank.batch_tokens", "rerank.max_length", "train.batch_size", "train.max_length", "dev.top_k"):
        _positive_int(cfg, key)
    _positive_int(cfg, "train.max_steps", allow_minus_one=True)
    _check_adapt(cfg)
    _check_bi_encoder(cfg)
    for key in ("train.learning_rate", "train.epochs", "train.head_learning_rate", "train.gate_learning_rate"):
        _positive_number(cfg, key)
    _check_schedule(cfg)
    backend = select(cfg, "rerank.backend")
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"rerank.backend={backend!r} is unknown: use one of {', '.join(BACKENDS)}")
    rule = fit_rule(cfg)
    if rule not in FIT_RULES:
        raise ConfigError(f"rerank.fusion_fit={rule!r} is unknown: use one of {', '.join(FIT_RULES)}")
    _boolean(cfg, "rerank.fusion")
    if select(cfg, "hub.push") and not select(cfg, "hub.repo_id"):
        raise ConfigError("hub.push=true needs hub.repo_id=<user>/<model-name>")
    if select(cfg, "rerank") is not None:
        check_windowing(select(cfg, "rerank.long_docs", "truncate"), select(cfg, "rerank.window"), select(cfg, "rerank.stride"))
    _check_train_windows(cfg)
    freeze_setting(select(cfg, "train.freeze_layers"))  # an integer >= 0; the model's depth is checked when it is built
    decay_setting(select(cfg, "train.layer_lr_decay"))
    dropout_setting(select(cfg, "train.dropout"))
    dropout_setting(select(cfg, "adapt.dropout"), "adapt.dropout")
    _boolean(cfg, "train.fast_dropout")
    _check_loss(cfg)
    _check_eval(cfg)
    _check_prior(cfg)
    if select(cfg, "data.dev_seed") is not None:
        dev_seed(cfg)  # an integer, or refused naming the key
    train_queries(cfg)  # null or a positive integer
    _check_folds(cfg)
    if isinstance(select(cfg, "model"), DictConfig):
        passage_cls_setting(cfg.model)  # true or false, and only with a gated body


def _check_folds(cfg: DictConfig) -> None:
    """dev.folds: null or k >= 2, and not with what a cross-fitted run cannot do honestly."""
    if dev_folds(cfg) is None:
        return
    if select(cfg, "bi_encoder.kind") not in (None, "none"):
        raise ConfigError("dev.folds with bi_encoder=mnrl is not supported: the fine-tuned bi-encoder would train on "
                          "every fold's dev queries; use one of them")
    if select(cfg, "train.resume"):
        raise ConfigError("dev.folds with train.resume is not supported: a cross-fitted run trains several models; start it again")


def _check_train_windows(cfg: DictConfig) -> None:
    mode = select(cfg, "train.long_docs")
    if mode is not None and mode not in TRAIN_LONG_DOCS:
        raise ConfigError(f"train.long_docs={mode!r} is not one of: {', '.join(TRAIN_LONG_DOCS)}")
    picker = select(cfg, "train.window_picker")
    if picker is not None and picker not in WINDOW_PICKERS:
        raise ConfigError(f"train.window_picker={picker!r} is not one of: {', '.join(WINDOW_PICKERS)}")


def _check_adapt(cfg: DictConfig) -> None:
    kind = select(cfg, "adapt.kind")
    if kind is None or kind == "none":
        return
    if kind != "pseudo_queries":
        raise ConfigError(f"adapt.kind={kind!r} is unknown: use adapt=none or adapt=pseudo_queries")
    for key in ("adapt.passages", "adapt.max_steps"):
        _positive_int(cfg, key)
    if select(cfg, "adapt.source") not in SOURCES:
        raise ConfigError(f"adapt.source={select(cfg, 'adapt.source')!r} is unknown: use one of {', '.join(SOURCES)}")
    range_min, range_max = select(cfg, "adapt.range_min"), select(cfg, "miner.range_max")
    if range_min is not None and (isinstance(range_min, bool) or not isinstance(range_min, int) or not 0 <= range_min < (range_max or 100)):
        raise ConfigError(f"adapt.range_min={range_min!r} is invalid: expected null or an integer from 0 to below miner.range_max ({range_max})")
    _check_offset_weight(cfg, "adapt.residual", "null (= loss.residual) or ")
    _check_share(cfg, "adapt.replay", " of the labelled rows (0: none)")
    focus = select(cfg, "adapt.focus", "corpus")
    if focus not in FOCUS:
        raise ConfigError(f"adapt.focus={focus!r} is unknown: use one of {', '.join(FOCUS)}")
    if focus == "queries":
        _positive_int(cfg, "adapt.focus_depth")
        if dev_folds(cfg):
            raise ConfigError("adapt.focus=queries with dev.folds is not supported: the focus would read every fold's dev "
                              "queries; use adapt.focus=corpus")
    if select(cfg, "adapt.replay") and (select(cfg, "loss.residual") or 0) > 0:
        raise ConfigError("adapt.replay with loss.residual > 0: the pseudo-query rows carry no BM25 offsets; set one of them to 0")
    for key in ("adapt.select", "adapt.compare"):
        _boolean(cfg, key)
    if select(cfg, "adapt.loss") is not None:
        _check_loss(cfg, "adapt.loss")
    loss = stage_loss(cfg, "adapt")
    if select(loss, "format") == TEACHER_FORMAT:
        key = "adapt.loss" if select(cfg, "adapt.loss") is not None else "loss"
        check_teacher_settings(loss.teacher_lists, select(cfg, "adapt.lists"), "adapt.lists", f"{key}.teacher_lists")


def _check_bi_encoder(cfg: DictConfig) -> None:
    kind = select(cfg, "bi_encoder.kind")
    if kind is None or kind == "none":
        return
    if kind != "mnrl":
        raise ConfigError(f"bi_encoder.kind={kind!r} is unknown: use bi_encoder=mnrl or bi_encoder=none")
    for key in ("bi_encoder.epochs", "bi_encoder.max_steps", "bi_encoder.batch_size", "bi_encoder.max_seq_length"):
        _positive_int(cfg, key)
    _positive_number(cfg, "bi_encoder.learning_rate")


def _check_eval(cfg: DictConfig) -> None:
    """The benchmark's measures and first stages, checked before the run writes anything or retrieves."""
    measures = select(cfg, "eval.measures")
    if measures is not None:
        parse_measures([str(m) for m in measures])
    stages = select(cfg, "eval.first_stages")
    if stages is not None:
        if not len(stages):
            raise ConfigError("eval.first_stages is empty: give at least one of bm25, dense")
        for name in stages:
            if str(name) not in (*FIRST_STAGES, "run", "trec_run"):
                raise ConfigError(f"eval.first_stages contains unknown first stage {str(name)!r}: use {', '.join(FIRST_STAGES)} (or run with retriever=trec_run)")
            if str(name) in ("run", "trec_run") and select(cfg, "retriever.kind") != "trec_run":
                raise ConfigError(f"eval.first_stages names '{name}' but retriever is not trec_run: add retriever=trec_run retriever.path=<file>")
    wanted = select(cfg, "eval.rerank_first_stages")
    if isinstance(wanted, str) and wanted != "dev":
        raise ConfigError(f"eval.rerank_first_stages={wanted!r}: give a list of first stages, null (all) or dev (the one chosen on dev)")


def _check_share(cfg: DictConfig, key: str, zero_means: str) -> None:
    """``key``: null or a number from 0 to 1."""
    share = select(cfg, key)
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1):
        raise ConfigError(f"{key}={share!r} is invalid: expected a share between 0 and 1{zero_means}")


def _check_prior(cfg: DictConfig) -> None:
    """dev.min_stability is a share; dev.prior names a first stage, alone or >>tuned[+fusion] (where that first
    stage is not in eval.first_stages, the prior is simply not available and the dev maximum is final)."""
    _check_share(cfg, "dev.min_stability", " (0: always the dev maximum)")
    pool = select(cfg, "dev.pool")
    if pool is not None and str(pool) not in POOLS:
        raise ConfigError(f"dev.pool={pool!r} is invalid: use one of {', '.join(POOLS)}")
    prior = select(cfg, "dev.prior")
    if not prior:
        return
    # The tuned bi-encoder's first stages (dense-ft, hybrid-ft) are systems of runs that train one (bi_encoder=mnrl).
    stages = (*FIRST_STAGES, *(f"{n}{TUNED_SUFFIX}" for n in TUNABLE))
    if first_stage_of(str(prior)) not in stages or reranker_of(str(prior)) not in (None, "tuned", "tuned" + FUSED):
        raise ConfigError(f"dev.prior={prior!r} is not a system name: use <first stage>, <first stage>>>tuned or "
                          f"<first stage>>>tuned+fusion with a first stage among {', '.join(stages)}")


# configs/loss next to configs/train.yaml: the losses a user can pick with loss=<name>.
LOSS_CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "loss"


def _known_losses() -> dict[str, str]:
    """{loss name: its _target_} from configs/loss/*.yaml ({} when the configs are not next to the package)."""
    out = {}
    for p in sorted(LOSS_CONFIG_DIR.glob("*.yaml")):
        try:
            out[p.stem] = str(OmegaConf.load(p).get("_target_"))
        except Exception:  # noqa: BLE001 - a config file we cannot read is not the user's mistake
            continue
    return out


def _check_loss(cfg: DictConfig, key: str = "loss") -> None:
    """``loss`` (or ``adapt.loss``, the label-free stage's own): a known format, a class, its list settings."""
    loss = select(cfg, key)
    if loss is None:
        return
    if not isinstance(loss, DictConfig):
        raise ConfigError(f"{key}={loss!r} is invalid: expected a loss mapping (format, _target_, ...) or null")
    fmt = loss.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{key}.format={fmt!r} is unknown: use one of {', '.join(FORMATS)}")
    if not loss.get("_target_"):
        raise ConfigError(f"{key}._target_ is missing: pick a loss with loss=<name>, or name a loss class with {key}._target_=<module.Class>")
    if key == "loss":
        _check_offset_weight(cfg, "loss.residual")
    if fmt == TEACHER_FORMAT:
        if not isinstance(loss.get("teacher_lists"), DictConfig):
            raise ConfigError(f"{key}.teacher_lists is missing: {key}.format=teacher_lists needs {{signals, depth, list, temperature}}")
        if key == "loss":  # the label-free stage's lists are adapt.lists long: checked in _check_adapt
            check_teacher_settings(loss.teacher_lists, loss.teacher_lists.get("list"), "loss.teacher_lists.list")
    known = _known_losses()
    name = loss.get("name")
    # `loss.name=foo` does not choose a loss (the config group does), so a name that no loss config
    # has, on top of a built-in loss class, is a typo that would silently train the default loss.
    if key == "loss" and known and name not in known and loss.get("_target_") in known.values():
        raise ConfigError(
            f"loss.name={name!r} is not a known loss: choose one with loss=<name> (the config group, not loss.name=...), "
            f"one of {', '.join(known)}; for your own loss class set loss._target_=<module.Class> and loss.format"
        )


def _check_offset_weight(cfg: DictConfig, key: str, null_means: str = "") -> None:
    """``loss.residual`` / ``adapt.residual``: a number >= 0, above 0 only for a loss that takes offsets (mnrl_hard)."""
    value = select(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{key}={value!r} is invalid: expected {null_means}a number >= 0 (0 = off)")
    if value > 0 and not str(select(cfg, "loss._target_", "")).endswith("HardNegativesMNRL"):
        raise ConfigError(f"{key}={value} needs loss=mnrl_hard: loss '{select(cfg, 'loss.name')}' takes no BM25 offsets")


def _check_model_name(key: str, name) -> None:
    """A model name must be an existing local folder or a hub id this machine can get; nothing is loaded.

    Offline (HF_HUB_OFFLINE=1) a hub id must already be in the Hugging Face cache, else the
    download would fail only after the data set was mined and encoded.
    """

    name = "" if name is None else str(name)
    try:
        resolved = resolve_model_name(name)
    except ModelError as e:
        raise ModelError(f"{key}: {e}. Give an existing model folder or a hub id") from None
    p = Path(resolved).expanduser()
    if p.exists():
        if not p.is_dir():
            raise ModelError(f"{key}={name!r} is a file, not a model folder: give the folder that holds config.json")
        if not (p / "config.json").is_file() and not (p / "modules.json").is_file():
            raise ModelError(f"{key}={name!r}: {p} has no config.json; give a saved model folder (transformers or sentence-transformers)")
        return
    from huggingface_hub import constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE and not isinstance(try_to_load_from_cache(name, "config.json"), str):
        raise ModelError(
            f"{key}={name!r} is neither a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE=1 forbids "
            "downloading it: give a local model folder, or download the model once with network access"
        )


def check_model_names(cfg: DictConfig) -> None:
    """Every model the run will load can be found: for training the base, the dense first stage and a
    distillation teacher; for eval (a config with ``rerankers``) the hub ids among the rerankers, the
    base if listed, and the dense first stage if listed. Local reranker folders are checked by
    rerankft.evaluation.rerankers.resolve_rerankers (which also requires them to be cross-encoders)."""
    rerankers = select(cfg, "rerankers")
    if rerankers is None:  # training
        _check_model_name("model.name", select(cfg, "model.name"))
        if select(cfg, "retriever.kind") == "dense":
            _check_model_name("retriever.name", select(cfg, "retriever.name"))
    else:
        entries = [str(e) for e in ([rerankers] if isinstance(rerankers, str) else rerankers)]
        if "base" in entries:
            _check_model_name("model.name (the 'base' reranker)", select(cfg, "model.name"))
        for entry in entries:
            if is_library_entry(entry):  # checked by its own preflight (key, dependency, folder)
                continue
            if entry not in ("base", "tuned") and not Path(entry).expanduser().exists():
                _check_model_name("rerankers entry", entry)
        if "dense" in [str(s) for s in (select(cfg, "eval.first_stages") or [])] and select(cfg, "retriever.kind") == "dense":
            _check_model_name("retriever.name (the dense first stage)", select(cfg, "retriever.name"))
    if select(cfg, "loss.format") == "distill" and select(cfg, "loss.teacher.name") is not None:
        _check_model_name("loss.teacher.name", select(cfg, "loss.teacher.name"))
