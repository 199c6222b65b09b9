"""Cross-encoder fine-tuning: losses, model heads, dev selection, run-directory files, resume.

Everything runs on a tiny synthetic help-desk collection (12 topics, one passage and one
query each) with the packaged MiniLM, max_length 48 and a handful of optimizer steps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from sentence_transformers.base.evaluation import BaseEvaluator

from rerankft.data.dataset import RetrievalDataset
from rerankft.mining.rows import MinedRow, MiningResult

REPO = Path(__file__).resolve().parents[1]
TOPICS = ["router", "printer", "battery", "password", "backup", "invoice", "refund", "shipping", "firmware", "wifi", "screen", "keyboard"]
LOSSES = ["bce", "mnrl", "cmnrl", "lambda", "listnet", "margin_mse", "teacher_listnet"]


# ----------------------------------------------------------------------------- synthetic data


def make_dataset() -> RetrievalDataset:
    corpus = {f"d{i}": {"title": t.title(), "text": f"How to fix a {t} problem: the {t} guide covers {t} settings."} for i, t in enumerate(TOPICS)}
    queries = {f"q{i}": f"my {t} does not work" for i, t in enumerate(TOPICS)}
    qrels = {f"q{i}": {f"d{i}": 1 + i % 2} for i in range(len(TOPICS))}
    return RetrievalDataset(name="synthetic", corpus=corpus, queries=queries, qrels={"train": qrels})


def make_mined(dataset: RetrievalDataset, qids: list[str], n_neg: int = 3) -> MiningResult:
    """Negatives: the next topics' passages (deterministic), as the miner would hand them over."""
    n = len(TOPICS)
    rows = []
    for qid in qids:
        i = int(qid[1:])
        negs = [f"d{(i + k) % n}" for k in range(1, n_neg + 1)]
        rows.append(MinedRow(qid=qid, positive=f"d{i}", grade=1 + i % 2, positive_score=0.9, negatives=negs, negative_scores=[0.5] * n_neg, n_hard=n_neg))
    return MiningResult(dataset=dataset, rows=rows, negatives_per_row=n_neg)


def dev_split(dataset: RetrievalDataset, dev_qids: list[str]):
    qrels = {q: dataset.qrels["train"][q] for q in dev_qids}
    # A first-stage run that ranks the relevant passage 3rd, so reranking can move it.
    n = len(TOPICS)
    run = {}
    for q in dev_qids:
        i = int(q[1:])
        docs = [f"d{(i + 1) % n}", f"d{(i + 2) % n}", f"d{i}", f"d{(i + 3) % n}"]
        run[q] = {d: 1.0 - 0.1 * r for r, d in enumerate(docs)}
    return qrels, run


def compose_cfg(*overrides: str):
    from hydra import compose, initialize_config_dir

    base = [
        "train.max_length=48", "train.batch_size=4", "train.logging_steps=1", "train.warmup_ratio=0.0",
        "train.learning_rate=1e-4", "train.precision=fp32", "dev.top_k=4",
    ]
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(config_name="train", overrides=base + list(overrides))


@pytest.fixture(scope="module")
def data():
    ds = make_dataset()
    train_q = [f"q{i}" for i in range(8)]
    dev_qrels, dev_run = dev_split(ds, [f"q{i}" for i in range(8, 12)])
    return ds, make_mined(ds, train_q), dev_qrels, dev_run


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """An offline distillation teacher: MiniLM with a fresh head, scaled up so its margins are not ~0."""
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.names import resolve_model_name

    torch.manual_seed(1)
    ce = CrossEncoder(resolve_model_name("packaged-minilm"), num_labels=1, max_length=48)
    with torch.no_grad():
        ce.model.classifier.weight.mul_(30.0)
    path = tmp_path_factory.mktemp("teacher") / "ce"
    ce.save_pretrained(str(path))
    return path


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- pieces


def test_heads_have_one_logit_and_head_lr_pattern_matches_only_the_head(tmp_path):
    import re

    from sentence_transformers import CrossEncoder

    from rerankft.modeling.build import build_cross_encoder
    from rerankft.modeling.freeze import head_parameter_pattern

    cfg = compose_cfg()
    heads = (
        ("cls", {"model.0.model.classifier.weight", "model.0.model.classifier.bias"}),
        ("mean", {"model.2.linear.weight", "model.2.linear.bias"}),
        ("segment_cosine", {"model.1.scale", "model.1.bias", "model.0.segment_gate"}),  # the gated body's gate too
    )
    for head, expect in heads:
        cfg.model.head = head
        model = build_cross_encoder(cfg.model, 48)
        assert model.num_labels == 1 and model.max_seq_length == 48
        names = {f"model.{n}" for n, _ in model.named_parameters()}  # as the optimizer sees them (loss.model...)
        assert {n for n in names if re.search(head_parameter_pattern(model), n)} == expect
        scores = model.predict([("my wifi drops", "Wifi guide"), ("q", "p")])
        assert scores.shape == (2,) and torch.isfinite(torch.as_tensor(scores)).all()
        # A saved model reloads with exactly the same parameters: best-checkpoint selection and
        # resume load checkpoints into the live model, which fails on any extra or missing key.
        model.save(str(tmp_path / head))
        reloaded = CrossEncoder(str(tmp_path / head), trust_remote_code=True)
        assert set(reloaded.state_dict()) == set(model.state_dict())
        assert torch.allclose(torch.as_tensor(reloaded.predict([("my wifi drops", "Wifi guide")])),
                              torch.as_tensor(model.predict([("my wifi drops", "Wifi guide")])), atol=1e-5)


def test_auto_head_keeps_a_cross_encoder_head_and_gives_a_bi_encoder_segment_cosine(tmp_path):
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.build import resolve_head
    from rerankft.modeling.names import packaged_minilm_path

    assert resolve_head("auto", packaged_minilm_path()) == "segment_cosine"
    CrossEncoder(packaged_minilm_path(), num_labels=1).save(str(tmp_path / "ce"))
    assert resolve_head("auto", str(tmp_path / "ce")) == "cls"
    assert resolve_head("mean", str(tmp_path / "ce")) == "mean"


def test_bad_head_and_precision_are_config_errors(monkeypatch):
    from rerankft.core.errors import ConfigError
    from rerankft.modeling.build import build_cross_encoder
    from rerankft.scoring import hardware
    from rerankft.training.trainer import resolve_precision

    cfg = compose_cfg()
    cfg.model.head = "attention"
    with pytest.raises(ConfigError, match="model.head"):
        build_cross_encoder(cfg.model, 48)
    with pytest.raises(ConfigError, match="train.precision"):
        resolve_precision("fp8")
    if not torch.cuda.is_available():
        # auto on a CPU: bf16 only where the CPU computes it natively and faster
        monkeypatch.setattr(hardware, "bf16_pays", lambda: False)
        assert resolve_precision("auto") == {"bf16": False, "fp16": False}
        monkeypatch.setattr(hardware, "bf16_pays", lambda: True)
        assert resolve_precision("auto") == {"bf16": True, "fp16": False}
        with pytest.raises(ConfigError, match="fp16"):
            resolve_precision("fp16")


def test_bce_prior_is_entropy_for_unit_weight_and_pos_weight_balances_classes(data):
    import math

    from rerankft.modeling.build import build_cross_encoder
    from rerankft.training.losses import bce_prior_loss, build_loss

    p = 0.2
    assert bce_prior_loss(p)["prior_loss"] == pytest.approx(-p * math.log(p) - (1 - p) * math.log(1 - p))
    # Weighted: the best constant is s = p w / (p w + 1 - p); with w = (1-p)/p that is 0.5 -> 2 (1-p) ln 2.
    assert bce_prior_loss(p, (1 - p) / p)["prior_loss"] == pytest.approx(2 * (1 - p) * math.log(2))

    cfg = compose_cfg("loss=bce")
    _, mined, _, _ = data
    rows = mined.to_dataset("pairs")
    loss, used = build_loss(cfg.loss, build_cross_encoder(cfg.model, 48), rows, 4)
    n_pos = sum(1 for y in rows["label"] if y > 0.5)
    assert used["pos_weight"] == pytest.approx((len(rows) - n_pos) / n_pos)
    assert float(loss.pos_weight) == pytest.approx(used["pos_weight"])


def test_dev_ndcg_counts_queries_the_first_stage_missed_as_zero():
    from rerankft.core.metrics import ndcg_at_10

    qrels = {"a": {"d1": 1}, "b": {"d2": 1}}
    assert ndcg_at_10(qrels, {"a": {"d1": 2.0, "d9": 1.0}, "b": {}}) == pytest.approx(0.5)
    assert ndcg_at_10(qrels, {"a": {"d9": 2.0, "d1": 1.0}, "b": {"d2": 1.0}}) == pytest.approx((1 / 1.5849625 + 1) / 2, rel=1e-5)


def test_a_dev_only_run_may_be_resumed_to_its_test_benchmark_but_not_retrained_otherwise(tmp_path):
    from omegaconf import OmegaConf

    from rerankft.core.errors import ConfigError
    from rerankft.training.resume import check_resume_matches

    prev = tmp_path / "prev"
    prev.mkdir()
    OmegaConf.save(OmegaConf.create({"train": {"resume": None, "epochs": 2}, "dev": {"only": True}}), prev / "config.yaml")
    (prev / "run_info.json").write_text(json.dumps({"data": {"fingerprint": "abc"}}))

    def cfg(epochs):
        return OmegaConf.create({"train": {"resume": str(prev), "epochs": epochs}, "dev": {"only": False}})

    check_resume_matches(cfg(2), "abc")  # dev.only true -> false: allowed
    with pytest.raises(ConfigError, match=r"train.epochs: 2 -> 3") as e:  # what is trained may not change
        check_resume_matches(cfg(3), "abc")
    assert "dev.only" not in str(e.value)


def test_resume_and_multiprocess_pin_one_run_dir(monkeypatch):
    from rerankft import cli

    assert cli.shared_run_dir_overrides(["train.py", "loss=bce"], {}) == []
    assert cli.shared_run_dir_overrides(["train.py", "train.resume=outputs/train/x"], {}) == ["hydra.run.dir=outputs/train/x"]
    # An explicit hydra.run.dir wins over both.
    assert cli.shared_run_dir_overrides(["train.py", "train.resume=a", "hydra.run.dir=b"], {"WORLD_SIZE": "2"}) == []
    monkeypatch.setattr(cli, "_launcher_start_stamp", lambda: "2026-01-02_03-04-05")
    assert cli.shared_run_dir_overrides(["train.py"], {"WORLD_SIZE": "2", "RANK": "0"}) == ["hydra.run.dir=outputs/${task}/2026-01-02_03-04-05"]
    assert cli.shared_run_dir_overrides(["train.py"], {"WORLD_SIZE": "2", "RERANKFT_RUN_DIR": "/r"})[0] == "hydra.run.dir=/r"
    rank1 = cli.shared_run_dir_overrides(["train.py"], {"WORLD_SIZE": "2", "RANK": "1"})
    assert rank1[0] == "hydra.run.dir=outputs/${task}/2026-01-02_03-04-05" and "hydra.output_subdir=null" in rank1
    # Every rank of one launch has the same parent, hence the same stamp.
    monkeypatch.undo()
    assert cli._launcher_start_stamp() == cli._launcher_start_stamp()


# ----------------------------------------------------------------------------- losses


def _dataset_loss(trainer, rows) -> float:
    """The loss on all rows at once, dropout off, with a fixed RNG (MNRL samples in-batch negatives)."""
    trainer.model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        batch = trainer.data_collator([rows[i] for i in range(len(rows))])
        return float(trainer.compute_loss(trainer.model, batch))


@pytest.mark.parametrize("loss_name", LOSSES)
def test_each_loss_runs_and_lowers_its_loss(loss_name, data, teacher_dir, tmp_path):
    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from transformers import set_seed

    from rerankft.modeling.build import build_cross_encoder
    from rerankft.modeling.freeze import head_parameter_pattern
    from rerankft.training.losses import build_loss
    from rerankft.training.trainer import training_arguments, training_rows

    extra = {"margin_mse": [f"loss.teacher.name={teacher_dir}"], "mnrl": ["loss.num_negatives=1"], "cmnrl": ["loss.num_negatives=1"]}
    extra["teacher_listnet"] = [f"cache_dir={tmp_path / 'cache'}"]
    cfg = compose_cfg(f"loss={loss_name}", "train.max_steps=6", "train.head_learning_rate=2e-3", *extra.get(loss_name, []))
    ds = data[0]
    mined = make_mined(ds, ["q0", "q1", "q2", "q3"], n_neg=2)  # 4 queries x 2 negatives keeps every loss cheap
    if loss_name == "teacher_listnet":  # as the pipeline does: BM25 and the bi-encoder grade the lists
        from rerankft.mining.teacher import grade_lists, teacher_signals

        grade_lists(mined, {q: ds.qrels["train"][q] for q in ("q0", "q1", "q2", "q3")}, teacher_signals(cfg), cfg, pseudo=False)
        assert [len(docs) for docs in mined.lists["docs"]] == [5] * 4  # a positive, the top 3, 1 drawn
    set_seed(0)
    model = build_cross_encoder(cfg.model, 48)
    _, rows, _ = training_rows(cfg, mined, 48)
    loss, _ = build_loss(cfg.loss, model, rows, 4)
    args = training_arguments(cfg, tmp_path, len(rows), has_dev=False, head_pattern=head_parameter_pattern(model))
    args.save_strategy = "no"
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=rows, loss=loss)
    before = _dataset_loss(trainer, rows)
    trainer.train()
    after = _dataset_loss(trainer, rows)
    assert after < before, f"{loss_name}: loss {before:.4f} -> {after:.4f}"


def test_grade_weights_scale_each_rows_share_of_the_hard_negatives_loss():
    from rerankft.training.losses import HardNegativesMNRL

    loss = HardNegativesMNRL.__new__(HardNegativesMNRL)
    torch.nn.Module.__init__(loss)
    loss.activation_fn, loss.scale, loss.cross_entropy_loss = None, 1.0, torch.nn.CrossEntropyLoss(reduction="none")
    # 3 rows: the positive's scores, then one negative's (the parent's column-major layout)
    logits = [torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 1.0, 1.0])]
    per_row = torch.nn.functional.cross_entropy(torch.stack(logits).T, torch.zeros(3, dtype=torch.long), reduction="none")
    loss._row_weights = None
    assert float(loss.calculate_loss(logits, 3)) == pytest.approx(float(per_row.mean()))
    loss._row_weights = torch.ones(3)
    assert float(loss.calculate_loss(logits, 3)) == pytest.approx(float(per_row.mean()))
    loss._row_weights = torch.tensor([3.0, 0.0, 0.0])  # only the first row counts, three times over
    assert float(loss.calculate_loss(logits, 3)) == pytest.approx(float(per_row[0]))


# ----------------------------------------------------------------------------- fit_cross_encoder


class ScriptedEvaluator(BaseEvaluator):
    """Stands in for DevRerankEvaluator: dev scores fixed per step, so the best step is known."""

    SCORES = {0: 0.10, 2: 0.30, 4: 0.90, 6: 0.20}

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.primary_metric = "dev_ndcg@10"

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        return {"dev_ndcg@10": self.SCORES[int(steps)]}


def test_best_dev_checkpoint_is_the_saved_model(data, tmp_path, monkeypatch):
    from sentence_transformers import CrossEncoder

    import rerankft.training.trainer as training

    monkeypatch.setattr(training, "DevRerankEvaluator", ScriptedEvaluator)
    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=bce", "train.max_steps=6", "train.eval_steps=2", "train.save_total_limit=3", "train.logging_steps=2")
    result = training.fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path)

    assert result.is_main_process and result.best_dev == pytest.approx(0.9)
    assert result.dev_summary["best_step"] == 4 and result.dev_summary["base_dev"] == pytest.approx(0.1)
    assert [h["step"] for h in result.dev_summary["history"]] == [2, 4, 6]
    # The saved model is checkpoint-4's weights, not the last step's.
    pairs = [("my wifi does not work", ds.doc_text("d9")), ("my router does not work", ds.doc_text("d3"))]
    saved = CrossEncoder(str(result.model_dir), trust_remote_code=True).predict(pairs)
    best = CrossEncoder(str(tmp_path / "checkpoints" / "checkpoint-4"), trust_remote_code=True).predict(pairs)
    last = CrossEncoder(str(tmp_path / "checkpoints" / "checkpoint-6"), trust_remote_code=True).predict(pairs)
    assert saved == pytest.approx(best, abs=1e-6) and saved != pytest.approx(last, abs=1e-6)
    done = json.loads((tmp_path / "train_done.json").read_text())
    assert done["dev"]["best_step"] == 4 and done["train"]["global_step"] == 6


def test_fit_writes_log_model_and_dev_scores(data, tmp_path):
    from sentence_transformers import CrossEncoder

    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl", "train.max_steps=4", "train.eval_steps=2", "model.head=mean", "train.head_learning_rate=1e-3")
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path)

    log = jsonl(tmp_path / "train_log.jsonl")
    start = log[0]
    assert start["event"] == "start" and start["format"] == "ntuples" and start["train_rows"] == 8
    assert start["train_pairs"] == 8 * 4 and 0 <= start["truncated_pairs"] <= start["train_pairs"]
    train_rows = [r for r in log if r["event"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert all(r["loss"] > 0 and r["learning_rate"] is not None and r["pairs_per_s"] > 0 for r in train_rows)
    evals = [r for r in log if r["event"] == "eval"]
    assert [(r["step"], r["untrained"]) for r in evals] == [(0, True), (2, False), (4, False)]
    hist = result.dev_summary["history"]
    assert result.best_dev == pytest.approx(max(h["dev_ndcg@10"] for h in hist))
    assert result.dev_summary["base_dev"] == pytest.approx(evals[0]["dev_ndcg@10"])
    # The tuned model reloads from its folder and scores pairs; only the finished folder is visible.
    scores = CrossEncoder(str(result.model_dir), trust_remote_code=True).predict([("my wifi does not work", ds.doc_text("d9"))] * 2)
    assert scores.shape == (2,) and scores[0] == pytest.approx(scores[1])
    assert not list(tmp_path.glob(".model.*")) and (tmp_path / "train_done.json").is_file()
    # The model carries the run's own calibration pairs (int8 backends): training queries' positives
    # and hardest negatives, never a dev query's.
    calib = json.loads((result.model_dir / "calibration_pairs.json").read_text())
    train_queries = {ds.queries[r.qid] for r in mined.rows}
    dev_queries = {ds.queries[q] for q in dev_qrels}
    assert len(calib) == min(2 * len(mined.rows), 192) and {q for q, _ in calib} <= train_queries
    assert not {q for q, _ in calib} & (dev_queries - train_queries)
    first = sorted(mined.rows, key=lambda r: (r.qid, r.positive))[0]
    assert calib[:2] == [[ds.queries[first.qid], ds.doc_text(first.positive)], [ds.queries[first.qid], ds.doc_text(first.negatives[0])]]


def test_adaptation_steps_run_before_the_labelled_fine_tune_and_are_recorded(data, tmp_path):
    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl", "train.max_steps=2", "adapt=pseudo_queries", "adapt.max_steps=3")
    pseudo = make_mined(ds, [f"q{i}" for i in range(12)])  # stands in for mined pseudo-query rows
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=pseudo)
    adapt = json.loads((tmp_path / "train_done.json").read_text())["train"]["adapt"]
    assert adapt["steps"] == 3 and adapt["rows"] == 12 and 0.0 <= adapt["dev_ndcg@10"] <= 1.0
    evals = [r for r in jsonl(tmp_path / "train_log.jsonl") if r["event"] == "eval"]
    assert evals[0]["untrained"] and result.dev_summary["base_dev"] == pytest.approx(evals[0]["dev_ndcg@10"])
    assert not (tmp_path / "adapt_checkpoints").exists()  # the stage saves nothing


def test_a_resumed_run_counts_the_earlier_training_time_and_keeps_the_adaptation_summary(data, tmp_path):
    from rerankft.training.train_log import PROGRESS_FILE
    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    args = ("loss=mnrl", "train.max_steps=2", "adapt=pseudo_queries", "adapt.max_steps=2")
    pseudo = make_mined(ds, [f"q{i}" for i in range(12)])
    fit_cross_encoder(compose_cfg(*args), ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=pseudo)
    first = json.loads((tmp_path / "train_done.json").read_text())["train"]
    saved = json.loads((tmp_path / "checkpoints" / "checkpoint-2" / PROGRESS_FILE).read_text())
    assert 0 < saved["train_seconds"] <= first["seconds"] and saved["adapt"]["steps"] == 2

    # The finished run resumed (a dev-only run going on to its test benchmark): nothing trains again, and
    # train_done.json still describes the whole run, not the seconds of the resume.
    fit_cross_encoder(compose_cfg(*args, f"train.resume={tmp_path}"), ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=pseudo)
    again = json.loads((tmp_path / "train_done.json").read_text())["train"]
    assert again["resumed_from"].endswith("checkpoint-2") and again["global_step"] == 2
    assert again["seconds"] >= saved["train_seconds"] and again["adapt"] == first["adapt"]
    assert again["train_loss_mean"] == pytest.approx(first["train_loss_mean"], rel=1e-6)


def test_schedule_epochs_stops_early_on_the_longer_schedules_learning_rates_and_evaluates_the_stop(data, tmp_path):
    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data  # 8 rows, 4 per step: 2 steps per epoch
    ran = {}
    for name, over in {"full": ["train.epochs=3"], "stopped": ["train.epochs=1", "train.schedule_epochs=3"]}.items():
        fit_cross_encoder(compose_cfg("loss=mnrl", "train.warmup_ratio=0.2", *over), ds, mined, dev_qrels, dev_run, tmp_path / name)
        log = jsonl(tmp_path / name / "train_log.jsonl")
        ran[name] = {"lr": {r["step"]: r["learning_rate"] for r in log if r["event"] == "train"},
                     "done": json.loads((tmp_path / name / "train_done.json").read_text())}
    full, stopped = ran["full"], ran["stopped"]
    assert full["done"]["train"]["global_step"] == 6 and stopped["done"]["train"]["global_step"] == 2
    # The stopped run's steps took the three-epoch schedule's rates: still high when it stopped.
    assert stopped["lr"] == {s: full["lr"][s] for s in (1, 2)} and stopped["lr"][2] > 0
    # Its last step was evaluated and saved like a last step, so it competes in dev selection.
    assert [h["step"] for h in stopped["done"]["dev"]["history"]] == [2]
    assert (tmp_path / "stopped" / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    assert [h["step"] for h in full["done"]["dev"]["history"]] == [2, 4, 6]


def test_earlier_training_time_falls_back_to_the_finished_runs_summary_or_is_unknown(tmp_path):
    from rerankft.training.summary import mean_logged_loss
    from rerankft.training.train_log import earlier_progress

    ckpt = tmp_path / "checkpoints" / "checkpoint-378"
    ckpt.mkdir(parents=True)
    assert earlier_progress(str(ckpt)).seconds() is None  # nothing recorded: unknown, not the resumed part alone
    done = {"train": {"global_step": 378, "seconds": 1500.0, "adapt": {"steps": 50}}}
    (tmp_path / "train_done.json").write_text(json.dumps(done))
    progress = earlier_progress(str(ckpt))  # the run finished at this checkpoint (written before checkpoints had the file)
    assert progress.seconds() >= 1500.0 and progress.carried == {"adapt": {"steps": 50}}
    done["train"]["global_step"] = 567  # it went on past this checkpoint: its total is not this checkpoint's
    (tmp_path / "train_done.json").write_text(json.dumps(done))
    assert earlier_progress(str(ckpt)).seconds() is None
    assert earlier_progress(None).seconds() >= 0.0
    history = [{"step": 1, "loss": 1.0}, {"step": 4, "loss": 0.5}, {"step": 4, "eval_x": 0.3}, {"step": 6, "loss": 2.0}]
    assert mean_logged_loss(history) == pytest.approx((1.0 + 3 * 0.5 + 2 * 2.0) / 6)
    assert mean_logged_loss([]) is None


def test_freeze_layers_keeps_embeddings_and_lowest_layers_through_both_stages(data, tmp_path):
    from safetensors.torch import load_file

    from rerankft.modeling.names import resolve_model_name
    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl", "train.max_steps=2", "adapt=pseudo_queries", "adapt.max_steps=2", "train.freeze_layers=2")
    pseudo = make_mined(ds, [f"q{i}" for i in range(12)])
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=pseudo)
    start = load_file(str(Path(resolve_model_name(cfg.model.name)) / "model.safetensors"))
    tuned = load_file(str(result.model_dir / "model.safetensors"))

    def moved(name: str) -> bool:
        key = next(k for k in tuned if k.endswith(name))
        return not torch.equal(tuned[key], start[next(k for k in start if k.endswith(name))])

    assert not moved("embeddings.word_embeddings.weight")
    assert not moved("encoder.layer.0.attention.self.query.weight") and not moved("encoder.layer.1.output.dense.weight")
    assert moved("encoder.layer.2.attention.self.query.weight") and moved("encoder.layer.5.output.dense.weight")
    frozen = jsonl(tmp_path / "train_log.jsonl")[0]["freeze"]
    assert frozen["layers"] == 2 and frozen["frozen_parameters"] > 0 and frozen["trainable_parameters"] > 0


def test_train_dropout_reaches_the_trainer_and_the_saved_model(data, tmp_path):
    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl", "train.max_steps=2", "adapt=none", "train.dropout=0")
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path)
    assert jsonl(tmp_path / "train_log.jsonl")[0]["freeze"]["dropout"] == 0.0
    saved = json.loads((result.model_dir / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == 0.0 and saved["attention_probs_dropout_prob"] == 0.0


def test_adapt_dropout_holds_in_the_label_free_stage_only(data, tmp_path, monkeypatch):
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    from rerankft.training.trainer import fit_cross_encoder

    seen = []  # (stage, the dropout probabilities the model trained with at that step)
    step = CrossEncoderTrainer.training_step

    def recording_step(self, model, *args, **kwargs):
        stage = "adapt" if self.args.output_dir.endswith("adapt_checkpoints") else "labelled"
        seen.append((stage, {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}))
        return step(self, model, *args, **kwargs)

    monkeypatch.setattr(CrossEncoderTrainer, "training_step", recording_step)
    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl", "train.max_steps=2", "adapt.max_steps=2", "adapt.dropout=0")
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=make_mined(ds, ["q2", "q3"], n_neg=2))
    assert [stage for stage, _ in seen] == ["adapt"] * 2 + ["labelled"] * 2
    assert all(ps == {0.0} for stage, ps in seen if stage == "adapt")
    assert all(ps == {0.1} for stage, ps in seen if stage == "labelled")  # the checkpoint's, restored after the stage
    saved = json.loads((result.model_dir / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == 0.1 and saved["attention_probs_dropout_prob"] == 0.1
    assert result.train_summary["adapt"]["dropout"] == 0.0


def test_fast_dropout_draws_its_masks_in_both_stages_and_the_model_leaves_as_it_came(data, tmp_path, monkeypatch):
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    from rerankft.modeling.fast_dropout import ATTENTION
    from rerankft.training.trainer import fit_cross_encoder

    seen = []  # per training step: the attention implementation and the dropout modules' classes
    step = CrossEncoderTrainer.training_step

    def recording_step(self, model, *args, **kwargs):
        configs = [c for c in (getattr(m, "config", None) for m in model.modules()) if c is not None]
        seen.append(({getattr(c, "_attn_implementation", None) for c in configs} - {None},
                     {type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.Dropout)}))
        return step(self, model, *args, **kwargs)

    monkeypatch.setattr(CrossEncoderTrainer, "training_step", recording_step)
    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl", "train.max_steps=2", "adapt.max_steps=2", "train.fast_dropout=true")
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=make_mined(ds, ["q2", "q3"], n_neg=2))
    assert len(seen) == 4 and all(s == ({ATTENTION}, {"_Dropout"}) for s in seen), seen
    saved = (result.model_dir / "config.json").read_text()
    assert ATTENTION not in saved and json.loads(saved)["hidden_dropout_prob"] == 0.1
    from sentence_transformers.cross_encoder import CrossEncoder

    assert CrossEncoder(str(result.model_dir), trust_remote_code=True).predict([("a", "b")]).shape == (1,)  # loads and scores


@pytest.mark.parametrize("value", ["-1", "1.5", "true", "7"])
def test_bad_freeze_layers_is_a_config_error_naming_the_key(value):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError
    from rerankft.modeling.build import build_cross_encoder
    from rerankft.modeling.freeze import freeze_lower_layers

    cfg = compose_cfg(f"train.freeze_layers={value}")
    if value != "7":  # refused by the config check, before any data is read
        with pytest.raises(ConfigError, match="train.freeze_layers"):
            validate_config(cfg)
    model = build_cross_encoder(cfg.model, 48)
    with pytest.raises(ConfigError, match="train.freeze_layers" + (".*6 layers" if value == "7" else "")):
        freeze_lower_layers(model, cfg.train.freeze_layers)  # deeper than MiniLM's 6: refused once the model is known


def _adapt_stage_mapping(cfg, model, data, tmp_path, labelled_args, monkeypatch) -> dict:
    """The learning_rate_mapping the label-free stage hands its trainer (the trainer itself never runs)."""
    import sentence_transformers.cross_encoder as st_cross_encoder

    import rerankft.training.adapt as adapt_module

    seen = {}

    class Recorder:
        def __init__(self, model, args, **kw):
            seen["mapping"] = args.learning_rate_mapping

        def train(self):
            pass

    monkeypatch.setattr(st_cross_encoder, "CrossEncoderTrainer", Recorder)  # adapt imports it when it runs
    adapt_module.adapt_on_pseudo_queries(cfg, model, make_mined(data[0], ["q2", "q3"], n_neg=2), tmp_path, labelled_args)
    return seen["mapping"]


def test_layer_lr_decay_gives_each_layer_its_rate_in_the_trainers_optimizer(data, tmp_path, monkeypatch):
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    from rerankft.modeling.build import build_cross_encoder
    from rerankft.modeling.freeze import head_parameter_pattern, layer_learning_rates
    from rerankft.training.losses import build_loss
    from rerankft.training.trainer import training_arguments, training_rows

    cfg = compose_cfg("train.learning_rate=1e-4", "train.head_learning_rate=1e-3", "train.layer_lr_decay=0.5")
    model = build_cross_encoder(cfg.model, 48)
    _, rows, _ = training_rows(cfg, make_mined(data[0], ["q0", "q1"], n_neg=2), 48)
    loss, _ = build_loss(cfg.loss, model, rows, 4)
    rates = layer_learning_rates(model, 1e-4, cfg.train.layer_lr_decay)
    args = training_arguments(cfg, tmp_path, len(rows), False, head_parameter_pattern(model), rates)
    optimizer = CrossEncoderTrainer(model=model, args=args, train_dataset=rows, loss=loss).create_optimizer()
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())

    def lr(suffix: str) -> float:
        return lr_of[id(next(p for n, p in named.items() if n.endswith(suffix)))]

    assert lr("encoder.layer.5.attention.self.query.weight") == pytest.approx(1e-4)  # the top layer: the full rate
    assert lr("encoder.layer.4.output.dense.bias") == pytest.approx(0.5e-4)
    assert lr("encoder.layer.0.attention.self.query.weight") == pytest.approx(1e-4 * 0.5**5)
    assert lr("embeddings.word_embeddings.weight") == pytest.approx(1e-4 * 0.5**6)
    assert lr("1.scale") == lr("segment_gate") == pytest.approx(1e-3)  # the head keeps its own rate
    assert len(lr_of) == sum(p.requires_grad for p in model.parameters())  # every parameter in exactly one group
    assert layer_learning_rates(model, 1e-4, None) == layer_learning_rates(model, 1e-4, 1.0) == {}

    # The label-free stage at its own rate (adapt.learning_rate): the layers' rates follow it, the head's stays.
    cfg.adapt.learning_rate = 2e-4
    seen = {"mapping": _adapt_stage_mapping(cfg, model, data, tmp_path, args, monkeypatch)}
    top, bottom = (rf"(^|\.)encoder\.layer\.{i}\." for i in (5, 0))
    assert seen["mapping"][top] == pytest.approx(2e-4) and seen["mapping"][bottom] == pytest.approx(2e-4 * 0.5**5)
    assert seen["mapping"][head_parameter_pattern(model)] == pytest.approx(1e-3)
    assert args.learning_rate_mapping[top] == pytest.approx(1e-4)  # the labelled stage's arguments are left as they were


def test_gate_learning_rate_puts_the_segment_gate_alone_on_its_rate_in_both_stages(data, tmp_path, monkeypatch):
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    from rerankft.modeling.build import build_cross_encoder
    from rerankft.modeling.freeze import gate_rate, head_parameter_pattern
    from rerankft.training.losses import build_loss
    from rerankft.training.trainer import training_arguments, training_rows

    cfg = compose_cfg("train.learning_rate=1e-4", "train.head_learning_rate=1e-3", "train.gate_learning_rate=0.02")
    model = build_cross_encoder(cfg.model, 48)
    _, rows, _ = training_rows(cfg, make_mined(data[0], ["q0", "q1"], n_neg=2), 48)
    loss, _ = build_loss(cfg.loss, model, rows, 4)
    args = training_arguments(cfg, tmp_path, len(rows), False, head_parameter_pattern(model), None, gate_rate(model, cfg.train))
    optimizer = CrossEncoderTrainer(model=model, args=args, train_dataset=rows, loss=loss).create_optimizer()
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())

    def lr(suffix: str) -> float:
        return lr_of[id(next(p for n, p in named.items() if n.endswith(suffix)))]

    assert lr("segment_gate") == pytest.approx(0.02)
    assert lr("1.scale") == lr("1.bias") == pytest.approx(1e-3)  # the rest of the head keeps the head's rate
    assert lr("encoder.layer.3.attention.self.query.weight") == pytest.approx(1e-4)
    assert len(lr_of) == sum(p.requires_grad for p in model.parameters())  # every parameter in exactly one group
    assert gate_rate(model, compose_cfg().train) == {}  # null: the gate learns at the head's rate, as before
    assert gate_rate(build_cross_encoder(compose_cfg("model.segment_gate=null").model, 48), cfg.train) == {}  # no gate, no group

    # The label-free stage inherits the labelled stage's mapping, the gate's rate with it.
    mapping = _adapt_stage_mapping(cfg, model, data, tmp_path, args, monkeypatch)
    gate_patterns = [k for k in mapping if re.search(k, "model.0.segment_gate")]
    assert mapping[gate_patterns[-1]] == pytest.approx(0.02)  # the last matching pattern is the one the trainer applies


@pytest.mark.parametrize("key", ["train.gate_learning_rate", "train.head_learning_rate"])
@pytest.mark.parametrize("value", ["0", "-1e-3", "true", "'fast'"])
def test_bad_head_or_gate_learning_rate_is_a_config_error_naming_the_key(key, value):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with pytest.raises(ConfigError, match=key):
        validate_config(compose_cfg(f"{key}={value}"))


@pytest.mark.parametrize("value", ["0", "1.5", "-0.5", "true", "'x'"])
def test_bad_layer_lr_decay_is_a_config_error_naming_the_key(value):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    with pytest.raises(ConfigError, match="train.layer_lr_decay"):
        validate_config(compose_cfg(f"train.layer_lr_decay={value}"))


def test_adapt_loss_trains_the_label_free_stage_on_its_own_loss_and_the_labelled_stage_on_the_runs(data, tmp_path):
    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl_hard", "train.max_steps=2", "adapt=pseudo_teacher", "adapt.max_steps=2", "adapt.select=false")
    pseudo = make_mined(ds, [f"q{i}" for i in range(12)])  # 12 rows: what the run's loss (ntuples) would train on
    n = len(TOPICS)
    pseudo.lists = {"query": [ds.queries[f"q{i}"] for i in range(5)],  # 5 teacher lists: what adapt.loss trains on
                    "docs": [[ds.doc_text(f"d{(i + k) % n}") for k in range(4)] for i in range(5)],
                    "labels": [[2.0, 1.0, 0.5, 0.0]] * 5}
    fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=pseudo)
    done = json.loads((tmp_path / "train_done.json").read_text())["train"]
    assert done["adapt"]["loss"] == "teacher_listnet" and done["adapt"]["rows"] == 5 and done["adapt"]["steps"] == 2
    start = next(r for r in jsonl(tmp_path / "train_log.jsonl") if r["event"] == "start")
    assert start["loss"] == "mnrl_hard" and start["format"] == "ntuples"  # the labelled stage keeps loss=


def test_adapt_compare_trains_both_losses_from_one_start_and_keeps_the_better_on_dev(data, tmp_path):
    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=mnrl_hard", "train.max_steps=2", "adapt=pseudo_teacher", "adapt.max_steps=2", "adapt.select=false",
                      "adapt.compare=true")
    pseudo = make_mined(ds, [f"q{i}" for i in range(12)])
    n = len(TOPICS)
    pseudo.lists = {"query": [ds.queries[f"q{i}"] for i in range(5)],
                    "docs": [[ds.doc_text(f"d{(i + k) % n}") for k in range(4)] for i in range(5)],
                    "labels": [[2.0, 1.0, 0.5, 0.0]] * 5}
    fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=pseudo)
    adapt = json.loads((tmp_path / "train_done.json").read_text())["train"]["adapt"]
    compared = adapt["compared"]
    assert (compared["loss"]["loss"], compared["loss"]["rows"]) == ("mnrl_hard", 12)
    assert (compared["adapt.loss"]["loss"], compared["adapt.loss"]["rows"]) == ("teacher_listnet", 5)
    best = max(c["dev_ndcg@10"] for c in compared.values())  # which one wins on ties: test_adapt's compare test
    assert adapt["dev_ndcg@10"] == compared[adapt["chosen"]]["dev_ndcg@10"] == best
    evals = [r for r in jsonl(tmp_path / "train_log.jsonl") if r["event"] == "eval"]
    assert evals[0]["untrained"]  # the labelled stage's dev record starts as before


def test_with_adapt_select_the_adapted_state_competes_in_dev_selection(data, tmp_path):
    from sentence_transformers import CrossEncoder

    from rerankft.training.trainer import fit_cross_encoder

    ds, mined, dev_qrels, dev_run = data
    # A labelled learning rate that wrecks the model: the adapted state should be kept unless a wrecked
    # checkpoint ties or beats it on these few dev queries; either way the summary is the maximum.
    cfg = compose_cfg("loss=mnrl", "train.max_steps=2", "train.learning_rate=0.5", "train.head_learning_rate=null",
                      "adapt=pseudo_queries", "adapt.max_steps=2", "adapt.learning_rate=1e-6", "adapt.select=true")
    pseudo = make_mined(ds, [f"q{i}" for i in range(12)])
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path, adapt_mined=pseudo)
    adapted_dev = json.loads((tmp_path / "train_done.json").read_text())["train"]["adapt"]["dev_ndcg@10"]
    labelled = max(h["dev_ndcg@10"] for h in result.dev_summary["history"] if h["step"] > 0)
    assert result.best_dev == pytest.approx(max(adapted_dev, labelled), abs=1e-4)
    assert not (tmp_path / "adapted_state.pt").exists()  # model/ holds the winner; the candidate is gone
    if result.dev_summary["best_checkpoint"] == "adapted":
        assert result.dev_summary["best_step"] == 0 and result.dev_summary["labelled_best_dev"] == pytest.approx(labelled)
        # the saved model is the adapted one: two Adam steps at 1e-6 leave every weight within ~2e-6 of
        # the untrained base, where two steps at 0.5 would have moved them by about 1
        tuned = CrossEncoder(str(result.model_dir), trust_remote_code=True).state_dict()
        base = CrossEncoder(str(result.base_model), trust_remote_code=True).state_dict()
        assert tuned.keys() == base.keys()
        assert max(float((tuned[k].float() - base[k].float()).abs().max()) for k in tuned) < 1e-4


def test_the_adapted_state_is_kept_only_when_it_beats_every_labelled_checkpoint(tmp_path):
    import torch

    from rerankft.training.adapt import save_adapted_state
    from rerankft.training.trainer import _keep_adapted_if_better

    adapted, labelled = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    save_adapted_state(adapted, 0.40, tmp_path)
    summary = {"best_dev": 0.41, "best_step": 189, "best_checkpoint": "checkpoint-189"}
    _keep_adapted_if_better(labelled, summary, tmp_path)
    assert summary["best_step"] == 189 and not torch.equal(labelled.weight, adapted.weight)
    summary = {"best_dev": 0.38, "best_step": 189, "best_checkpoint": "checkpoint-189"}
    _keep_adapted_if_better(labelled, summary, tmp_path)
    assert summary == {"best_dev": 0.40, "best_step": 0, "best_checkpoint": "adapted", "labelled_best_dev": 0.38}
    assert torch.equal(labelled.weight, adapted.weight) and torch.equal(labelled.bias, adapted.bias)


# ----------------------------------------------------------------------------- resume after kill -9

DRIVER = """
import sys
from pathlib import Path
from tests.test_training import compose_cfg, make_dataset, make_mined, dev_split
from rerankft.training.trainer import fit_cross_encoder

out = Path(sys.argv[1])
ds = make_dataset()
dev_qrels, dev_run = dev_split(ds, ["q8", "q9", "q10", "q11"])
cfg = compose_cfg("loss=bce", "train.max_steps=14", "train.eval_steps=2", "train.batch_size=2", *sys.argv[2:])
r = fit_cross_encoder(cfg, ds, make_mined(ds, [f"q{i}" for i in range(8)]), dev_qrels, dev_run, out)
print("BEST", r.best_dev, r.dev_summary["best_step"])
"""


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    from sentence_transformers import CrossEncoder

    run = tmp_path / "run"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(driver), str(run)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 600
        while not (run / "checkpoints" / "checkpoint-2" / "trainer_state.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.time() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # kill -9, mid-training
        proc.wait()
    assert not (run / "model").exists() and not (run / "train_done.json").exists()
    steps_before = max(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("checkpoint-*") if (p / "trainer_state.json").exists())
    assert steps_before < 14

    res = subprocess.run([sys.executable, str(driver), str(run), f"train.resume={run}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    log = jsonl(run / "train_log.jsonl")
    resume = [r for r in log if r["event"] == "resume"]
    assert len(resume) == 1 and resume[0]["resumed_from"].endswith(f"checkpoint-{steps_before}")
    # Training continued after the checkpoint instead of starting over, and finished.
    after_resume = [r["step"] for r in log[log.index(resume[0]):] if r["event"] == "train"]
    assert min(after_resume) > steps_before and max(after_resume) == 14
    done = json.loads((run / "train_done.json").read_text())
    assert done["train"]["global_step"] == 14 and done["train"]["resumed_from"]
    assert len(done["dev"]["history"]) == 7  # evaluations before the kill survive in the trainer state
    assert CrossEncoder(str(run / "model"), trust_remote_code=True).predict([("my wifi does not work", "Wifi guide")]).shape == (1,)


def test_report_to_reaches_the_trainer(tmp_path):
    from hydra import compose, initialize_config_dir

    from rerankft.training.trainer import training_arguments
    from tests.test_configs import CONFIGS

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        default = compose(config_name="train")
        tb = compose(config_name="train", overrides=["train.report_to=[tensorboard]"])
    assert training_arguments(default, tmp_path, 40, True, None).report_to in ([], "none", ["none"])
    assert training_arguments(tb, tmp_path, 40, True, None).report_to == ["tensorboard"]
