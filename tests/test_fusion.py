"""Score fusion: z-score interpolation, the dev-fitted weight, and the fused system in the benchmark."""

import json

import pytest

from rerankft.core.systems import competing
from rerankft.evaluation.benchmark import run_benchmark, safe_filename
from rerankft.evaluation.fusion_fit import (best_on, choose_final, choose_with_prior, cross_validated, final_stability, fit_weight, fit_weights,
                                           held_out, pick_weights, weight_picker, weight_table)
from rerankft.evaluation.rerankers import read_fusion
from rerankft.scoring.fusion import GRID, fuse, fuse_signals, weight_grid, zscores
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
    with pytest.raises(ValueError, match="at most 1"):
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
    assert "| bm25>>tuned+fusion" in report and "## Score fusion" in report and "bm25: 0.4 * z(bm25)" in report
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


def test_fuse_signals_generalises_fuse_and_checks_its_weights():
    reranked = {"q": {"a": 3.0, "b": 1.0, "c": 2.0}}
    first = {"q": {"a": 0.1, "b": 0.9, "c": 0.5}}
    other = {"q": {"a": 5.0, "b": 4.0, "c": 9.0}}
    assert fuse_signals(reranked, {"bm25": first}, {"bm25": 0.3})["q"] == pytest.approx(fuse(reranked, first, 0.3)["q"])
    both = fuse_signals(reranked, {"bm25": first, "dense": other}, {"bm25": 0.2, "dense": 0.5})["q"]
    z_r, z_f, z_o = zscores(reranked["q"]), zscores(first["q"]), zscores(other["q"])
    assert both == pytest.approx({d: 0.3 * z_r[d] + 0.2 * z_f[d] + 0.5 * z_o[d] for d in "abc"})
    # a zero weight needs no signal; a positive one does, for every candidate
    assert fuse_signals(reranked, {}, {"bm25": 0.0})["q"] == pytest.approx(z_r)
    with pytest.raises(ValueError, match="not computed"):
        fuse_signals(reranked, {}, {"bm25": 0.1})
    with pytest.raises(ValueError, match="without a dense score"):
        fuse_signals(reranked, {"dense": {"q": {"a": 1.0}}}, {"dense": 0.1})
    with pytest.raises(ValueError, match="at most 1"):
        fuse_signals(reranked, {"bm25": first, "dense": other}, {"bm25": 0.6, "dense": 0.6})


def test_weight_grid_is_the_simplex_least_fusion_first():
    grid = weight_grid(["bm25", "dense"])
    assert len(grid) == 55 and grid[0] == {"bm25": 0.0, "dense": 0.0}
    assert all(sum(w.values()) <= 0.9 + 1e-9 for w in grid)
    totals = [round(sum(w.values()), 6) for w in grid]
    assert totals == sorted(totals)
    assert len({tuple(w.values()) for w in grid}) == len(grid)


def test_fit_weights_finds_the_informative_signal():
    ds = make_dataset(n_queries=12)
    qrels = ds.qrels["test"]
    cand = {q: {d: 0.0 for d in list(ds.corpus)[:20]} | {d: 0.0 for d in qrels[q]} for q in qrels}
    noise = {q: {d: (hash((q, d)) % 97) / 97 for d in docs} for q, docs in cand.items()}
    truth = {q: {d: qrels[q].get(d, 0) + 0.01 * noise[q][d] for d in docs} for q, docs in cand.items()}
    weights, best = fit_weights(qrels, noise, {"bm25": noise, "dense": truth})
    assert weights["dense"] > 0 and best == pytest.approx(1.0)
    # the per-query table behind it: the same choice, and every query wants dense, so it survives cross-validation
    # (nearly whole: a fold's fit takes the least dense weight that ranks *its* queries perfectly)
    grid, table = weight_table(qrels, noise, {"bm25": noise, "dense": truth})
    assert len(grid) == 55 and set(table) == set(qrels) and all(len(v) == 55 for v in table.values())
    assert grid[best_on(table, sorted(qrels))] == weights and 0.9 < cross_validated(table) <= 1.0
    # nothing to gain: the reranker alone (all zeros) is kept
    weights, _ = fit_weights(qrels, truth, {"bm25": noise})
    assert weights == {"bm25": 0.0}


def test_cross_validation_scores_each_query_with_weights_fitted_without_it():
    # Each of a, b, c rewards its own grid point; d is indifferent. The in-sample fit finds a
    # weight worth 0.35 on average, but no query's preference is shared: left out, each loses.
    table = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 1.0], "d": [0.4, 0.4, 0.4]}
    i = best_on(table, sorted(table))
    assert i == 0  # a three-way tie goes to the least fusion
    assert sum(table[q][i] for q in table) / 4 == pytest.approx(0.35)
    assert cross_validated(table, folds=4) == pytest.approx(0.1)  # leave-one-out, by hand: only d scores 0.4
    assert held_out(table, folds=4) == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.4}  # each query under the others' fit
    # a preference all queries share survives cross-validation whole
    shared = {q: [0.2, 0.9] for q in "abcdef"}
    assert cross_validated(shared, folds=3) == pytest.approx(0.9)
    assert cross_validated({"a": [1.0]}) is None  # one query: nothing to hold out


def outlier_table():
    """(grid, the alike 0.3/0.3 point, the 0.3/0.6 point, table): eight queries each a little better at
    0.3/0.3 (tuned keeps 0.4), two queries far better at 0.3/0.6 (where the argmax goes)."""
    grid = weight_grid(["bm25", "dense"])
    share_06 = next(i for i, g in enumerate(grid) if g == {"bm25": 0.3, "dense": 0.3})
    off = next(i for i, g in enumerate(grid) if g == {"bm25": 0.3, "dense": 0.6})
    table = {f"q{j}": [0.5] * len(grid) for j in range(10)}
    for j in range(8):
        table[f"q{j}"][share_06] = 0.55
    table["q8"][off] = table["q9"][off] = 1.0
    return grid, share_06, off, table


def test_share_bagged_fits_one_number_and_follows_what_most_queries_share():
    """rerank.fusion_fit=share_bagged: only grid points that weight BM25 and dense alike; the share most
    queries prefer, not the point one outlying query drags the mean to (where argmax goes)."""
    grid, share_06, off, table = outlier_table()
    alike = [i for i, g in enumerate(grid) if g["bm25"] == g["dense"]]
    assert [sum(grid[i].values()) for i in alike] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert grid[share_06] == {"bm25": 0.3, "dense": 0.3}
    qids = sorted(table)
    assert pick_weights(grid, table, qids, "argmax") == best_on(table, qids) == off
    picked = pick_weights(grid, table, qids, "share_bagged", seed=3)
    assert picked == share_06 and picked == pick_weights(grid, table, qids, "share_bagged", seed=3)
    with pytest.raises(ValueError, match="unknown fusion fit rule"):
        pick_weights(grid, table, qids, "median")
    # cross-validation refits with the rule it is given
    assert held_out(table, folds=4, fit=lambda qs: off) == {q: table[q][off] for q in qids}


def test_weight_picker_refits_with_the_runs_own_rule_and_dev_seed():
    """What the dev fit and every benchmark replay refit with: rerank.fusion_fit and the dev seed of the run's config."""
    from omegaconf import OmegaConf

    grid, share_06, off, table = outlier_table()
    qids = sorted(table)
    bagged = OmegaConf.create({"rerank": {"fusion_fit": "share_bagged"}, "train": {"seed": 3}, "data": {"dev_seed": None}})
    assert weight_picker(bagged, grid, table)(qids) == pick_weights(grid, table, qids, "share_bagged", seed=3) == share_06
    assert weight_picker(OmegaConf.create({"rerank": {"fusion_fit": "argmax"}}), grid, table)(qids) == off
    assert weight_picker(OmegaConf.create({"train": {"seed": 3}}), grid, table)(qids) == off  # a run from before the key: argmax
    # held out with the run's rule, the outliers' point is never picked: every query gets the alike share
    cv = held_out(table, folds=5, seed=3, fit=weight_picker(bagged, grid, table))
    assert cv == {q: table[q][share_06] for q in qids}


def test_choose_final_prefers_dev_best_then_the_simpler_system():
    dev = {"bm25": 0.30, "dense": 0.35, "bm25>>tuned": 0.35, "bm25>>tuned+fusion": 0.40}
    assert choose_final(dev) == "bm25>>tuned+fusion"
    dev["bm25>>tuned+fusion"] = 0.35
    assert choose_final(dev) == "dense"  # a tie goes to the first stage alone: cheaper, no model
    assert choose_final({"bm25>>tuned+fusion": 0.5, "dense>>tuned": 0.5}) == "dense>>tuned"


def test_final_stability_is_how_often_each_system_wins_a_bootstrap_resample_of_the_dev_queries():
    # dense is better on every query: every resample chooses it
    settled = {"bm25": {q: 0.2 for q in "abcdef"}, "dense": {q: 0.5 for q in "abcdef"}}
    assert final_stability(settled, samples=200) == {"dense": 1.0}
    # two queries, each preferring another system by the same margin: resamples aa -> bm25, bb -> dense,
    # ab and ba -> a tie, which goes to the one listed first (as in choose_final): bm25 3/4, dense 1/4
    split = {"bm25": {"a": 1.0, "b": 0.0}, "dense": {"a": 0.0, "b": 1.0}}
    share = final_stability(split, samples=4000, seed=1)
    assert share["bm25"] == pytest.approx(0.75, abs=0.03) and share["dense"] == pytest.approx(0.25, abs=0.03)
    assert list(share) == ["bm25", "dense"]  # most often chosen first
    assert final_stability({"bm25": {"a": 0.3}}) == {}  # one query: nothing to resample


def test_an_unsettled_dev_maximum_gives_way_to_the_prior_a_settled_one_does_not():
    prior = "hybrid>>tuned+fusion"
    qids = [f"q{i}" for i in range(10)]
    # Settled: dense>>tuned is ahead on every query, so it wins every resample and stays final.
    settled = {"bm25": {q: 0.3 for q in qids}, "dense>>tuned": {q: 0.6 for q in qids}, prior: {q: 0.5 for q in qids}}
    final, best, share, why = choose_with_prior(settled, prior, 0.7)
    assert final == best == "dense>>tuned" and share["dense>>tuned"] == 1.0 and why.startswith("dev maximum")
    # Unsettled: bm25>>tuned has the best mean by a hair, won on half the queries; dense>>tuned on the other half.
    split = {"bm25>>tuned": {q: (0.9 if i % 2 else 0.31) for i, q in enumerate(qids)},
             "dense>>tuned": {q: (0.3 if i % 2 else 0.9) for i, q in enumerate(qids)}, prior: {q: 0.55 for q in qids}}
    final, best, share, why = choose_with_prior(split, prior, 0.7)
    assert final == prior and best == "bm25>>tuned" and share["bm25>>tuned"] < 0.7 and "bm25>>tuned won only" in why
    # The same values with the rule off (0), a looser share, or no prior among the systems: the dev maximum.
    assert choose_with_prior(split, prior, 0.0)[0] == "bm25>>tuned"
    assert choose_with_prior(split, prior, share["bm25>>tuned"])[0] == "bm25>>tuned"
    assert choose_with_prior({k: v for k, v in split.items() if k != prior}, prior, 0.7)[0] == "bm25>>tuned"
    assert choose_with_prior(split, None, 0.7)[0] == "bm25>>tuned"


def test_the_fused_pool_leaves_a_reranker_alone_out_where_its_fused_variant_competes():
    names = ["bm25", "bm25>>tuned", "bm25>>tuned+fusion", "dense>>tuned", "hybrid>>tuned+fusion", "bm25>>oracle"]
    assert competing(names, "all") == names
    # dense>>tuned has no fused variant here, so it stays; first stages and fused systems always compete
    assert competing(names, "fused") == ["bm25", "bm25>>tuned+fusion", "dense>>tuned", "hybrid>>tuned+fusion", "bm25>>oracle"]
    assert competing(names, "fused", keep=["bm25>>tuned"]) == names  # the prior always competes
    with pytest.raises(ValueError, match="unknown dev.pool 'best'"):
        competing(names, "best")


def test_fit_fusion_chooses_the_final_system_within_dev_pool_and_records_it(monkeypatch):
    from omegaconf import OmegaConf

    from rerankft.evaluation import fusion_fit

    qids = [f"q{i}" for i in range(10)]
    # bm25>>tuned leads every query by a little, its fused variant is second on every query: a settled maximum.
    per_query = {"bm25": {q: 0.3 for q in qids}, "bm25>>tuned": {q: 0.62 for q in qids},
                 "bm25>>tuned+fusion": {q: 0.6 for q in qids}, "hybrid>>tuned+fusion": {q: 0.5 for q in qids}}
    monkeypatch.setattr(fusion_fit, "score_dev_systems",
                        lambda *a, **k: fusion_fit.DevSystems(per_query, {}, {"bm25": {"bm25": 0.3}}, {}))
    dev_qrels = {q: {"d": 1} for q in qids}
    chosen = {}
    for pool in ("all", "fused"):
        cfg = OmegaConf.create({"data": {"dev_seed": 0}, "train": {"seed": 0}, "rerank": {"top_k": 10},
                                "dev": {"prior": "hybrid>>tuned+fusion", "min_stability": 0.7, "pool": pool}})
        out = fusion_fit.fit_fusion(cfg, None, dev_qrels, "unused")
        chosen[pool] = (out["final"], out["final_rule"]["pool"], out["candidates"])
    assert chosen["all"] == ("bm25>>tuned", "all", "bm25")
    assert chosen["fused"] == ("bm25>>tuned+fusion", "fused", "bm25")  # every system still has its dev value
    assert set(out["dev_ndcg@10"]) == set(per_query)


def test_benchmark_reports_the_final_system_chosen_on_dev_and_reranks_its_candidates(tmp_path, monkeypatch):
    import rerankft.evaluation.benchmark as benchmark

    ds = make_dataset()
    qrels = ds.qrels["test"]
    fs = {"bm25": noisy_run(ds, 1, 10), "dense": noisy_run(ds, 2, 10)}
    # signals: dense knows the qrels, bm25 is noise (stand-ins for the retrievers' score_pairs)
    monkeypatch.setattr(benchmark, "signal_runs", lambda dataset, cand, retrievers: {
        n: {q: {d: (qrels[q].get(d, 0) if n == "dense" else 0.0) + (hash((n, q, d)) % 89) / 89 for d in docs}
            for q, docs in cand.items()} for n in retrievers})
    FakeReranker.seen = {}
    selection = {"candidates": "dense", "final": "dense>>tuned+fusion", "dev_queries": 7,
                 "dev_ndcg@10": {"bm25": 0.2, "dense": 0.3, "dense>>tuned": 0.4, "dense>>tuned+fusion": 0.5},
                 "final_stability": {"resamples": 1000, "share": {"dense>>tuned+fusion": 0.62, "dense>>tuned": 0.38}}}
    metrics = run_benchmark(cfg(eval={"rerank_first_stages": "dev"}), ds, {"base": "reverse", "tuned": "good"}, tmp_path,
                            first_stage_runs=fs, reranker_factory=lambda spec: FakeReranker(spec, ds),
                            fusion={"tuned": {"dense": {"bm25": 0.0, "dense": 0.5}}}, selection=selection)
    assert "dense>>tuned+fusion" in metrics["systems"] and "bm25>>tuned" not in metrics["systems"]
    final = metrics["final"]
    assert final["system"] == "dense>>tuned+fusion" and final["dev_ndcg@10"] == 0.5
    assert final["dev_test_agreement"]["systems"] == 4 and -1 <= final["dev_test_agreement"]["kendall_tau"] <= 1
    assert final["test"] == metrics["systems"]["dense>>tuned+fusion"]
    assert metrics["cost"]["dense>>tuned+fusion"]["fusion_weight"] == {"bm25": 0.0, "dense": 0.5}
    report = (tmp_path / "report.md").read_text()
    assert "**Final system: dense>>tuned+fusion**" in report and "vs bm25 alone" in report
    assert final["dev_stability"] == {"dense>>tuned+fusion": 0.62, "dense>>tuned": 0.38}
    assert "dense>>tuned+fusion is chosen in 62% of the draws (dense>>tuned 38%)" in report
    # without a dev choice: every first stage is reranked and no final system is named (never chosen on test)
    metrics = run_benchmark(cfg(eval={"rerank_first_stages": "dev"}), ds, {"tuned": "good"}, tmp_path / "b",
                            first_stage_runs=fs, reranker_factory=lambda spec: FakeReranker(spec, ds))
    assert {"bm25>>tuned", "dense>>tuned"} <= set(metrics["systems"]) and metrics["final"] is None
    assert "No final system" in (tmp_path / "b" / "report.md").read_text()
