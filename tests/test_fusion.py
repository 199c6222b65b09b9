"""Score fusion: z-score interpolation, the dev-fitted weight, and the fused system in the benchmark."""

import json

import pytest

from rerankft.evaluation.benchmark import run_benchmark, safe_filename
from rerankft.evaluation.fusion_fit import fit_weight
from rerankft.evaluation.rerankers import read_fusion
from rerankft.scoring.fusion import GRID, fuse, zscores
from tests.test_benchmark import FakeReranker, cfg, make_dataset, noisy_run


def test_zscores_by_hand_and_constant_lists():
    z = zscores({"a": 1.0, "b": 2.0, "c": 3.0})
    sd = (2 / 3) ** 0.5
    assert z == pytest.approx({"a": -1 / sd, "b": 0.0, "c": 1 / sd})
    assert zscores({"a": 5.0, "b": 5.0}) == {"a": 0.0, "b": 0.0}
    assert zscores({}) == {}


def test_fuse_endpoints_are_the_two_rankings_and_scale_does_not_matter():
    reranked = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    first = {"q": {"a": 1.0, "b": 2.0, "c": 30.0, "z": 99.0}}  # z was not reranked: ignored
    order = lambda run: sorted(run["q"], key=lambda d: -run["q"][d])  # noqa: E731
    assert order(fuse(reranked, first, 0.0)) == ["a", "b", "c"]
    assert order(fuse(reranked, first, 1.0)) == ["c", "b", "a"]
    assert set(fuse(reranked, first, 0.5)["q"]) == {"a", "b", "c"}
    scaled = {"q": {d: 1000 * s + 7 for d, s in reranked["q"].items()}}
    assert fuse(scaled, first, 0.3)["q"] == pytest.approx(fuse(reranked, first, 0.3)["q"])
    with pytest.raises(ValueError, match="without a first-stage score"):
        fuse({"q": {"x": 1.0}}, first, 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fuse(reranked, first, 1.5)


def test_fit_weight_picks_what_dev_rewards_and_prefers_the_reranker_alone_on_ties():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    # the reranker is wrong on both queries, the first stage right: fusion must lean on the first stage
    reranked = {"q1": {"a": 0.0, "b": 1.0, "c": 0.9}, "q2": {"a": 1.0, "b": 0.0, "c": 0.9}}
    first = {"q1": {"a": 10.0, "b": 0.0, "c": 1.0}, "q2": {"a": 0.0, "b": 10.0, "c": 1.0}}
    w, curve = fit_weight(qrels, reranked, first)
    assert set(curve) == set(GRID)
    assert w > 0 and curve[w] == 1.0 and curve[0.0] < 1.0
    # a perfect reranker: every weight that keeps it perfect ties, and 0 wins the tie
    w, curve = fit_weight(qrels, first, reranked)
    assert w == 0.0 and curve[0.0] == 1.0


def test_benchmark_adds_the_fused_system_with_its_comparisons(tmp_path):
    ds = make_dataset()
    fs = {"bm25": noisy_run(ds, 1, 10), "dense": noisy_run(ds, 2, 10)}
    metrics = run_benchmark(cfg(eval={"rerank_first_stages": ["bm25"]}), ds, {"base": "reverse", "tuned": "good"}, tmp_path,
                            first_stage_runs=fs, reranker_factory=lambda spec: FakeReranker(spec, ds),
                            fusion={"tuned": {"bm25": 0.4}, "absent": {"bm25": 0.5}})
    assert "bm25>>tuned+fusion" in metrics["systems"] and "dense>>tuned+fusion" not in metrics["systems"]
    assert not any("absent" in s for s in metrics["systems"])
    assert metrics["fusion"] == {"tuned+fusion": {"reranker": "tuned", "weights": {"bm25": 0.4}}}
    # the fused system is a real reranking of the same candidates: recall at top_k is the first stage's
    sy = metrics["systems"]
    assert sy["bm25>>tuned+fusion"]["R@5"] == pytest.approx(sy["bm25"]["R@5"])
    # ... and differs from both of its parts here
    per = {s: (tmp_path / "runs" / f"{safe_filename(s)}.trec").read_text() for s in ("bm25>>tuned", "bm25>>tuned+fusion")}
    assert per["bm25>>tuned"] != per["bm25>>tuned+fusion"]
    kinds = {c["kind"] for c in metrics["comparisons"] if c["system"] == "bm25>>tuned+fusion"}
    assert kinds == {"first_stage", "base", "unfused", "other_first_stage"}
    assert metrics["cost"]["bm25>>tuned+fusion"]["fusion_weight"] == 0.4
    report = (tmp_path / "report.md").read_text()
    assert "| bm25>>tuned+fusion" in report and "## Score fusion" in report and "bm25: w = 0.4" in report
    assert "tuned+fusion beats tuned" in report or "tuned+fusion trails tuned" in report or "tuned+fusion ties with tuned" in report


def test_read_fusion_from_a_run_or_its_model_folder(tmp_path):
    assert read_fusion(None) is None and read_fusion(str(tmp_path)) is None
    (tmp_path / "model").mkdir()
    (tmp_path / "fusion.json").write_text(json.dumps({"weights": {"bm25": 0.3}}))
    assert read_fusion(str(tmp_path))["weights"] == {"bm25": 0.3}
    assert read_fusion(str(tmp_path / "model"))["weights"] == {"bm25": 0.3}
    (tmp_path / "fusion.json").write_text("{broken")
    with pytest.raises(Exception, match="fusion.json is unreadable"):
        read_fusion(str(tmp_path))
