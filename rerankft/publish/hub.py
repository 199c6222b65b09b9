"""Publish a tuned reranker on the Hugging Face Hub, with a model card that says how it was made.

    python scripts/train.py hub.push=true hub.repo_id=<user>/<name>     # push after training
    python scripts/push.py run_dir=outputs/train/<run> hub.repo_id=...   # push an existing run
    ... hub.dry_run=true                                                 # write <run>/hub_upload only

One folder is built per push: the model as ``CrossEncoder.save`` writes it (weights, tokenizer,
config) plus ``README.md``, our model card. A dry run keeps that folder in the run directory; a
real push builds the same folder in a temporary place and uploads it as it is, so what a dry run
shows is exactly what a push sends.

The upload itself is sentence-transformers' ``push_to_hub`` with ``local_model_path`` (that folder)
and ``exist_ok=True``: by default it refuses an existing repository, and pushing a re-trained model
to the same repository is the normal case. Its own model card is not used because it only knows
about training done in-process and nothing about the data, the hard negatives or the benchmark.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rerankft.core.errors import ConfigError, RerankftError
from rerankft.core.io import atomic_dir, write_json
from rerankft.core.settings import select
from rerankft.core.systems import first_stage_of, reranker_of
from rerankft.scoring.loading import load_cross_encoder, run_model_dir

log = logging.getLogger("rerankft")


UPLOAD_DIRNAME = "hub_upload"


TAGS = ["sentence-transformers", "cross-encoder", "reranker", "text-ranking", "rerankft"]


class PushError(RerankftError):
    """The upload failed after the model was saved locally; the message says how to retry."""


def hub_token(cfg_hub) -> str | None:
    """hub.token, else HF_TOKEN or the token saved by `hf auth login`."""
    import huggingface_hub

    token = OmegaConf.select(cfg_hub, "token", default=None) if isinstance(cfg_hub, DictConfig) else (cfg_hub or {}).get("token")
    return token or huggingface_hub.get_token()


def preflight(cfg) -> None:
    """Fail before training when a push was asked for but cannot happen.

    Checked: a valid repo id, a token, and online mode. A dry run needs none of them.
    """
    hub = OmegaConf.select(cfg, "hub", default=None)
    if hub is None or not hub.get("push") or hub.get("dry_run"):
        return
    repo_id = hub.get("repo_id")
    if not repo_id:
        raise ConfigError("hub.push=true needs hub.repo_id=<user>/<model-name>")
    _check_repo_id(repo_id)
    if _in_multirun():
        raise ConfigError(
            "hub.push=true in a sweep (-m) would push every run to the same repository, the last one to finish "
            "winning. Sweep without it, then push the best run from the sweep's summary.md: "
            f"python scripts/push.py run_dir=<best run dir> hub.repo_id={repo_id} (hub.dry_run=true is fine in sweeps)"
        )
    if not hub_token(hub):
        raise ConfigError(
            "hub.push=true but no Hugging Face token was found: run `hf auth login`, or set the HF_TOKEN "
            "environment variable, or pass hub.token=<token>. (hub.dry_run=true writes the upload folder "
            "without pushing and needs no token.)"
        )
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise ConfigError("hub.push=true but HF_HUB_OFFLINE=1 is set, so nothing can be uploaded: "
                          "unset HF_HUB_OFFLINE, or use hub.dry_run=true")


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise ConfigError(f"hub.repo_id={repo_id!r} is not a valid repository id ({e}); use <user>/<model-name>") from None
    if "/" not in repo_id:
        # Without a namespace the Hub picks the token's user; asking for it keeps the card's usage snippet right.
        raise ConfigError(f"hub.repo_id={repo_id!r} needs a namespace: use <user-or-org>/{repo_id}")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything the card is built from: the resolved config, metrics, data summary and training summary."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir={run_dir}: no such directory (give the folder `python scripts/train.py` printed)")
    config = OmegaConf.load(run_dir / "config.yaml") if (run_dir / "config.yaml").is_file() else OmegaConf.create({})
    metrics = _read_json(run_dir / "metrics.json")
    if not metrics.get("systems"):
        log.warning("%s has no benchmark results (metrics.json): the model card will have no evaluation table", run_dir)
    return {
        "run_dir": run_dir,
        "model_dir": run_model_dir(run_dir, "run_dir"),
        "config": config,
        "metrics": metrics,
        "run_info": _read_json(run_dir / "run_info.json"),
        "train_done": _read_json(run_dir / "train_done.json"),
    }


_METRIC_TYPES = {"ndcg": "ndcg", "rr": "mrr", "r": "recall", "p": "precision", "ap": "map", "success": "success"}


def metric_type(measure: str) -> str:
    """ir_measures names -> the lowercase ids the Hub (and MTEB) use: nDCG@10 -> ndcg_at_10, RR@10 -> mrr_at_10."""
    m = re.fullmatch(r"([A-Za-z_]+)(?:@(\d+))?", measure)
    if not m:
        return re.sub(r"[^a-z0-9]+", "_", measure.lower()).strip("_")
    name = _METRIC_TYPES.get(m.group(1).lower(), m.group(1).lower())
    return f"{name}_at_{m.group(2)}" if m.group(2) else name


def _is_hub_id(name: str | None) -> bool:
    if not name or name.startswith((".", "/", "~")) or Path(name).expanduser().exists():
        return False
    try:
        _check_repo_id(name)
    except ConfigError:
        return False
    return True


def _hub_dataset_id(config) -> str | None:
    if OmegaConf.select(config, "data.kind") == "beir_hub" and OmegaConf.select(config, "data.name"):
        return f"BeIR/{OmegaConf.select(config, 'data.name')}"
    return None


def eval_results(run: dict, model_name: str):
    """model-index entries: this model's (``<first stage>>>tuned``) test metrics, one per first stage and measure."""
    from huggingface_hub import EvalResult

    metrics, config = run["metrics"], run["config"]
    data = (run["run_info"].get("data") or {})
    dataset_name = str(metrics.get("dataset") or data.get("name") or OmegaConf.select(config, "data.name") or "custom")
    dataset_type = _hub_dataset_id(config) or f"rerankft/{re.sub(r'[^A-Za-z0-9._-]+', '-', dataset_name)}"
    top_k = metrics.get("top_k")
    results = []
    for system, values in (metrics.get("systems") or {}).items():
        first_stage, reranker = first_stage_of(system), reranker_of(system)
        if reranker != "tuned":
            continue
        for measure, value in values.items():
            if not isinstance(value, (int, float)):
                continue
            results.append(EvalResult(
                task_type="text-ranking", task_name="Reranking",
                dataset_type=dataset_type, dataset_name=dataset_name, dataset_split=metrics.get("split", "test"),
                metric_type=metric_type(measure), metric_value=round(float(value), 4),
                metric_name=f"{measure} ({first_stage} top-{top_k} reranked)",
                metric_config=f"{first_stage}-top{top_k}",
            ))
    return results


def _table(metrics: dict) -> list[str]:
    systems = metrics.get("systems") or {}
    measures = metrics.get("measures") or list(next(iter(systems.values()), {}).keys())
    if not systems:
        return ["No benchmark results were recorded for this run."]
    lines = ["| system | " + " | ".join(measures) + " |", "|---|" + "---|" * len(measures)]
    for system, values in systems.items():
        cells = [f"{values[m]:.4f}" if isinstance(values.get(m), (int, float)) else "" for m in measures]
        name = f"**{system}**" if system.endswith(">>tuned") else system
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _sel(config, key: str, default: Any = None) -> Any:
    value = select(config, key, default)
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def _public_source(source: str | None) -> str:
    """Local paths say nothing to a reader and leak the machine's layout: keep the folder name only."""
    if not source:
        return "n/a"
    p = Path(str(source))
    return p.name if p.is_absolute() or str(source).startswith(("~", ".")) else str(source)


def public_command(command: str | None) -> str:
    """The training command for the card: script path made relative, secrets (hub.token=...) removed."""
    if not command:
        return "python scripts/train.py"
    words = command.split()
    if words and words[0].endswith(".py"):
        words[0] = "python scripts/" + Path(words[0]).name
    return " ".join("hub.token=<redacted>" if w.lstrip("+~").startswith("hub.token=") else w for w in words)


def model_card(run: dict, repo_id: str | None, cfg_hub=None):
    """A huggingface_hub ModelCard: metadata (base model, tags, model-index) and a body with data, recipe and results."""
    from huggingface_hub import ModelCard, ModelCardData

    config, metrics, data = run["config"], run["metrics"], (run["run_info"].get("data") or {})
    repo_id = repo_id or "<user>/<model-name>"
    model_name = repo_id.split("/")[-1]
    base = _sel(config, "model.name")
    dataset_id = _hub_dataset_id(config)
    card_data = ModelCardData(
        model_name=model_name,
        base_model=base if _is_hub_id(base) else None,
        datasets=[dataset_id] if dataset_id else None,
        library_name="sentence-transformers",
        pipeline_tag="text-ranking",
        license=(cfg_hub or {}).get("license") if cfg_hub is not None else None,
        tags=TAGS,
        eval_results=eval_results(run, model_name) or None,
    )
    dev = metrics.get("dev") or run["train_done"].get("dev") or {}
    train = run["train_done"].get("train") or {}

    from rerankft.modeling.heads import needs_trust

    # A segment_cosine head is a custom module shipped in the repository (modeling_rerankft.py).
    trust = ", trust_remote_code=True" if needs_trust(run["model_dir"]) else ""
    base_link = f"[`{base}`](https://huggingface.co/{base})" if _is_hub_id(base) else f"`{base}`"
    lines = [
        f"# {model_name}", "",
        f"A cross-encoder reranker fine-tuned from {base_link} on **{data.get('name') or _sel(config, 'data.name')}** "
        "with rerankft: hard negatives mined from a first-stage retriever, "
        "then fine-tuning, with the checkpoint chosen on dev queries and evaluated once on held-out test queries.", "",
        "## Usage", "", "```python", "from sentence_transformers import CrossEncoder", "",
        f'model = CrossEncoder("{repo_id}"{trust})',
        'scores = model.predict([("how do I reset the device", "Hold the reset button for ten seconds.")])',
        'ranked = model.rank("how do I reset the device", ["Backups run nightly.", "Hold the reset button for ten seconds."])',
        "```", "",
        "## Data", "",
        f"- data set: `{data.get('name')}` (source: `{_public_source(data.get('source'))}`), {data.get('docs')} documents, "
        f"{data.get('queries')} queries",
    ]
    for split, info in (data.get("splits") or {}).items():
        lines.append(f"- split `{split}`: {info.get('queries')} queries, {info.get('judgements')} relevance judgements")
    lines += [
        *_recipe_lines(config, data, dev, train, base_link), "",
        "## Evaluation", "",
        f"Test split `{metrics.get('split', 'test')}` of `{metrics.get('dataset', data.get('name'))}`"
        f" ({metrics.get('queries', 'n/a')} queries). Each reranker reorders the same first-stage top-{metrics.get('top_k')} "
        "candidates; `base` is the untrained model, `tuned` this model, `oracle` a perfect reranker of those candidates "
        "(the ceiling).", "",
        *_table(metrics), "",
        "## Reproduce", "",
        f"```\n{public_command(run['run_info'].get('command'))}\n```", "",
    ]
    versions = run["run_info"].get("versions") or {}
    if versions:
        lines += ["Library versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v), ""]
    content = f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(lines)
    return ModelCard(content)


def write_upload_folder(model, card, dest: Path) -> Path:
    """Write the exact folder a push uploads: the model as CrossEncoder.save writes it, plus README.md."""
    from rerankft.modeling.heads import make_portable

    with atomic_dir(dest) as tmp:
        model.save(str(tmp), create_model_card=False)
        make_portable(tmp, model)  # a segment_cosine head ships its module file (loads without rerankft)
        (tmp / "README.md").write_text(str(card), encoding="utf-8")
    return dest


def retry_command(run_dir: Path, repo_id: str) -> str:
    return f"python scripts/push.py run_dir={run_dir} hub.repo_id={repo_id}"


def publish(cfg_hub, run_dir: str | Path) -> dict:
    """Dry run (write <run>/hub_upload) or push the run's tuned model. Writes <run>/hub.json and returns it."""

    run_dir = Path(run_dir)
    cfg_hub = cfg_hub if isinstance(cfg_hub, DictConfig) else OmegaConf.create(cfg_hub or {})
    dry_run, repo_id = bool(cfg_hub.get("dry_run")), cfg_hub.get("repo_id")
    if not dry_run:
        preflight(OmegaConf.create({"hub": OmegaConf.to_container(cfg_hub)}))
    run = read_run(run_dir)
    card = model_card(run, repo_id, cfg_hub)
    model = load_cross_encoder(str(run["model_dir"]))

    if dry_run:
        folder = write_upload_folder(model, card, run_dir / UPLOAD_DIRNAME)
        info = {"dry_run": True, "repo_id": repo_id, "folder": str(folder), "files": sorted(p.name for p in folder.iterdir())}
        write_json(run_dir / "hub.json", info)
        log.info("hub dry run: the upload folder is %s (nothing was uploaded)", folder)
        return info

    token = hub_token(cfg_hub)
    tmp_root = Path(tempfile.mkdtemp(prefix="rerankft-hub-"))
    try:
        folder = write_upload_folder(model, card, tmp_root / UPLOAD_DIRNAME)
        files = sorted(p.name for p in folder.iterdir())
        try:
            commit_url = model.push_to_hub(
                repo_id, token=token, private=bool(cfg_hub.get("private")), local_model_path=str(folder),
                exist_ok=True, commit_message=cfg_hub.get("commit_message") or "Upload reranker fine-tuned with rerankft",
            )
        except Exception as e:  # network, auth, server: all end the same way for the user
            raise PushError(
                f"upload to the Hugging Face Hub repository {repo_id!r} failed: {type(e).__name__}: {e}\n"
                f"The tuned model is kept at {run['model_dir']}. Retry with:\n  {retry_command(run_dir, repo_id)}"
            ) from e
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    info = {"dry_run": False, "repo_id": repo_id, "commit_url": str(commit_url), "files": files}
    write_json(run_dir / "hub.json", info)
    log.info("pushed to https://huggingface.co/%s (%s)", repo_id, commit_url)
    return info


def push_run(cfg) -> dict:
    """``python scripts/push.py run_dir=<dir> hub.repo_id=...``: publish a finished train run."""
    run_dir = OmegaConf.select(cfg, "run_dir", default=None)
    if not run_dir:
        raise ConfigError("run_dir is required: python scripts/push.py run_dir=outputs/train/<run> hub.repo_id=<user>/<name>")
    if not cfg.hub.get("dry_run") and not cfg.hub.get("push"):
        raise ConfigError("nothing to do: hub.push=false and hub.dry_run=false")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir={run_dir}: no such directory (give the folder `python scripts/train.py` printed)")
    run_model_dir(run_dir, "run_dir")  # a run without a finished model fails here, before any token question
    preflight(cfg)  # token and repo id before the model is loaded
    return publish(cfg.hub, run_dir)


def _fmt(v, digits=4):
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else "n/a"


def _recipe_lines(config, data: dict, dev: dict, train: dict, base_link: str) -> list[str]:
    """The model card's data-split and training-recipe bullets, from the run's resolved config."""
    fmt = _fmt
    return [
        f"- dev queries for model selection: {fmt(_sel(config, 'data.dev_fraction'), 2)} of the training split "
        f"({dev.get('queries', 'n/a')} queries); the test split is never used for training or selection",
        *([f"- labelled training queries capped at {_sel(config, 'data.train_queries')} (`data.train_queries`, a seeded sample)"]
          if _sel(config, "data.train_queries") else []),
        f"- data fingerprint: `{data.get('fingerprint')}`", "",
        "## Training recipe", "",
        f"- base model: {base_link}",
        f"- loss: `{_sel(config, 'loss.name')}` (`{_sel(config, 'loss._target_')}`), input format `{_sel(config, 'loss.format')}`",
        f"- hard negatives: first stage `{_sel(config, 'retriever.kind')}`"
        + (f" (`{_sel(config, 'retriever.model')}`)" if _sel(config, "retriever.model") else "")
        + f", ranks [{_sel(config, 'miner.range_min')}, {_sel(config, 'miner.range_max')}), "
        f"{_sel(config, 'miner.num_negatives')} per positive ({_sel(config, 'miner.sampling_strategy')}), "
        f"relative margin {_sel(config, 'miner.relative_margin')}, absolute margin {_sel(config, 'miner.absolute_margin')}, "
        f"{_sel(config, 'miner.num_random_negatives')} random negatives per positive",
        f"- epochs: {_sel(config, 'train.epochs')}"
        + (f" of a {schedule}-epoch learning-rate schedule" if (schedule := _sel(config, "train.schedule_epochs")) else "")
        + f" (max steps {_sel(config, 'train.max_steps')}; ran {train.get('global_step', 'n/a')} steps"
        + (f" in {train['seconds']:.0f} s" if isinstance(train.get("seconds"), (int, float)) else "") + ")",
        f"- learning rate: {_sel(config, 'train.learning_rate')}, warmup ratio {_sel(config, 'train.warmup_ratio')}, "
        f"weight decay {_sel(config, 'train.weight_decay')}, batch size {_sel(config, 'train.batch_size')} "
        f"x {_sel(config, 'train.gradient_accumulation_steps')} accumulation, max length {_sel(config, 'train.max_length')} tokens, "
        f"precision {_sel(config, 'train.precision')}, seed {_sel(config, 'train.seed')}",
        f"- dev {dev.get('metric', 'nDCG@10')}: {fmt(dev.get('best_dev'))} (best step {dev.get('best_step', 'n/a')}"
        + (": the label-free adaptation's state, which no labelled checkpoint beat" if dev.get("best_checkpoint") == "adapted" else "")
        + "), "
        f"untrained {fmt(dev.get('base_dev'))}",
    ]
