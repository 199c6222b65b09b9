"""report.md formatting: bold best, significance marks, CIs, plain-words summary; report.png is a PNG."""


from rerankft.evaluation import plots, report


def metrics_fixture():
    systems = {
        "bm25": {"nDCG@10": 0.30, "R@100": 0.60},
        "bm25>>base": {"nDCG@10": 0.35, "R@100": 0.60},
        "bm25>>tuned": {"nDCG@10": 0.45, "R@100": 0.60},
        "bm25>>oracle": {"nDCG@10": 0.70, "R@100": 0.60},
    }

    def comp(system, baseline, kind, m, delta, p, sig):
        return {"system": system, "baseline": baseline, "kind": kind, "measure": m, "delta": delta, "p": p,
                "p_holm": p, "p_ttest": p, "significant": sig, "wins": 30, "losses": 10}

    return {
        "dataset": "toy", "split": "test", "top_k": 100, "queries": 50, "measures": ["nDCG@10", "R@100"],
        "systems": systems,
        "ci95": {s: {m: [v - 0.05, v + 0.05] for m, v in vals.items()} for s, vals in systems.items()},
        "comparisons": [
            comp("bm25>>base", "bm25", "first_stage", "nDCG@10", 0.05, 0.2, False),
            comp("bm25>>tuned", "bm25", "first_stage", "nDCG@10", 0.15, 0.0004, True),
            comp("bm25>>tuned", "bm25>>base", "base", "nDCG@10", 0.10, 0.012, True),
            comp("bm25>>tuned", "bm25", "first_stage", "R@100", 0.0, 1.0, False),
        ],
        "headroom": {"bm25>>base": {"nDCG@10": 0.125, "R@100": None}, "bm25>>tuned": {"nDCG@10": 0.375, "R@100": None}},
        "cost": {
            "bm25>>base": {"wall_s": 12.0, "ms_per_query": 240.0, "pairs": 5000, "pairs_per_s": 416.7, "cache_hits": 0,
                           "truncated_pairs": 7, "backend": "torch", "device": "cpu"},
            "bm25>>tuned": {"wall_s": 11.0, "ms_per_query": 220.0, "pairs": 5000, "pairs_per_s": 454.5, "cache_hits": 100,
                            "truncated_pairs": 7, "backend": "torch", "device": "cpu"},
        },
        "rerankers": {"base": "m", "tuned": "t"},
        "first_stages": {"bm25": {"recall_at_top_k": 0.6}},
        "statistics": {"test": "paired randomization", "correction": "Holm", "alpha": 0.05},
        "notes": {"recall_ceiling": "Recall@k for k >= 100 equals the first stage's (its ceiling)."},
    }


def row(table, system):
    return next(line for line in table.splitlines() if line.startswith(f"| {system} "))


def test_table_bold_marks_cis_and_cost():
    t = report.results_table(metrics_fixture())
    tuned = row(t, "bm25>>tuned")
    assert "**0.450**†‡ [0.40, 0.50]" in tuned  # best non-oracle, significant vs bm25 and vs base
    assert "0.700 [0.65, 0.75]" in row(t, "bm25>>oracle") and "**" not in row(t, "bm25>>oracle").split("|")[2]
    base = row(t, "bm25>>base")
    assert "†" not in base and "‡" not in base
    cells = [c.strip() for c in base.strip("|").split("|")]
    assert cells[-3:] == ["12.0", "240", "417"]  # rerank s, ms/query, pairs/s
    assert [c.strip() for c in row(t, "bm25").strip("|").split("|")][-3:] == ["-", "-", "-"]
    m = metrics_fixture()
    m["cost"]["bm25>>tuned"]["cache_hits"] = 4000  # mostly served from the score cache: not a model speed
    assert [c.strip() for c in row(report.results_table(m), "bm25>>tuned").strip("|").split("|")][-1] == "cached"
    # every row has the same width: the table reads in a terminal too
    assert len({len(line) for line in t.splitlines()}) == 1


def test_summary_in_plain_words():
    lines = "\n".join(report.summary_lines(metrics_fixture()))
    assert "On bm25's top 100, **tuned beats base** on nDCG@10 by +0.100 (0.450 vs 0.350" in lines
    assert "paired p = 0.012, p = 0.012 Holm-adjusted over 4: significant at 0.05" in lines
    assert "p < 0.001" in lines
    assert "tuned closes **38% of the headroom** on nDCG@10" in lines
    assert "its R@100 is 0.600: on average 40% of a query's relevant documents are not among the 100 candidates" in lines


def test_negative_headroom_is_said_plainly():
    m = metrics_fixture()
    m["systems"]["bm25>>base"]["nDCG@10"] = 0.20
    m["headroom"]["bm25>>base"]["nDCG@10"] = -0.25
    lines = "\n".join(report.summary_lines(m))
    assert "base is worse than bm25 alone on nDCG@10" in lines


def test_markdown_and_png(tmp_path):
    m = metrics_fixture()
    per_query = {s: {k: {f"q{i}": v + (0.01 * i if "tuned" in s else 0) for i in range(5)} for k, v in vals.items()}
                 for s, vals in m["systems"].items()}
    table = report.write_report(tmp_path, m, per_query, [f"q{i}" for i in range(5)])
    md = (tmp_path / "report.md").read_text()
    assert table.splitlines()[0] in md
    assert "Recall ceiling" in md and "4900 pairs scored by the model, 100 served from the score cache" in md
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert plots._winloss_pair(m) == ("bm25>>tuned", "bm25>>base")
    m["rerankers"] = {"base": "m"}
    assert plots._winloss_pair(m) == ("bm25>>base", "bm25")


def test_per_query_tsv(tmp_path):
    report.write_per_query_tsv(tmp_path / "pq.tsv", {"bm25": {"RR@10": {"q1": 1.0, "q2": 0.0}}}, ["q1", "q2"])
    assert (tmp_path / "pq.tsv").read_text().splitlines() == [
        "system\tquery_id\tmeasure\tvalue", "bm25\tq1\tRR@10\t1.000000", "bm25\tq2\tRR@10\t0.000000"]


def test_training_curves_come_from_the_train_log(tmp_path):
    import json

    from rerankft.evaluation.curves import read_curves, training_section

    assert training_section(tmp_path) == []  # an eval run: no log, no section
    rows = [{"event": "start"}, {"step": 0, "event": "eval", "dev_ndcg@10": 0.30},
            {"step": 10, "event": "train", "loss": 1.2}, {"step": 20, "event": "train", "loss": 0.8},
            {"step": 20, "event": "eval", "dev_ndcg@10": 0.41}]
    (tmp_path / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    loss, dev = read_curves(tmp_path / "train_log.jsonl")
    assert loss == [(10, 1.2), (20, 0.8)] and dev == [(0, 0.30), (20, 0.41)]
    lines = training_section(tmp_path)
    assert "## Training" in lines and any("the kept checkpoint is step 20 (0.410)" in line for line in lines)
    assert (tmp_path / "training.png").read_bytes()[:4] == b"\x89PNG"


def test_every_default_measure_is_explained():
    from hydra import compose, initialize_config_dir

    from rerankft.evaluation.report import measure_lines
    from tests.test_configs import CONFIGS

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        measures = list(compose(config_name="train").eval.measures)
    assert {"Success@10", "P@10", "AP"} <= set(measures)
    assert len(measure_lines(measures)) == len(measures)


def test_p_values_never_print_as_the_threshold_and_cached_speed_is_not_speed():
    from rerankft.evaluation.report import _fmt_p

    assert _fmt_p(0.0503) == "p = 0.0503" and _fmt_p(0.0497) == "p = 0.0497"
    assert _fmt_p(0.2) == "p = 0.200" and _fmt_p(0.0004) == "p < 0.001"


def test_a_first_stage_no_reranker_reordered_says_so_and_plot_colours_leave_red_and_green_to_wins():
    m = metrics_fixture()
    m["systems"]["dense"] = {"nDCG@10": 0.50, "R@100": 0.70}  # best, but train never reranked its candidates
    m["ci95"]["dense"] = {"nDCG@10": [0.45, 0.55], "R@100": [0.65, 0.75]}
    t = report.results_table(m)
    assert "**0.500**" in row(t, "dense (not reranked)")
    assert "not reranked" not in row(t, "bm25") and "not reranked" not in row(t, "bm25>>tuned")
    assert not {"tab:red", "tab:green", "C2", "C3", "red", "green"} & set(plots.SYSTEM_COLORS)
    assert len(set(plots.SYSTEM_COLORS)) >= 8


def test_latency_percentiles_in_the_report_and_a_quality_against_latency_plot(tmp_path):
    from rerankft.evaluation.latency import latency_png

    m = metrics_fixture()
    m["cost"]["bm25>>tuned"]["latency"] = {"queries": 10, "p50_ms": 210.0, "p95_ms": 260.4, "max_ms": 300.0}
    md = report.markdown(m)
    assert "- bm25>>tuned: p50 210 ms, p95 260 ms, max 300 ms per query (10 queries" in md
    assert latency_png(tmp_path / "latency.png", m).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    del m["cost"]["bm25>>tuned"]["latency"]
    assert latency_png(tmp_path / "none.png", m) is None and "p50" not in report.markdown(m)


def test_query_latency_reranks_each_query_alone_without_the_cache_and_returns_its_scores():
    from types import SimpleNamespace

    from rerankft.evaluation.cost import latency_sample, query_latency
    from rerankft.scoring.reranker import Reranker

    class Fake:
        _cache, show_progress = "cache", True
        uncached = Reranker.uncached  # the engine's own switch, on a fake that records what rerank_run sees

        def __init__(self):
            self.calls = []

        def rerank_run(self, dataset, run, top_k, query_ids=None, desc=None):
            assert self._cache is None and self.show_progress is False
            self.calls.append(list(query_ids))
            return {q: {d: -float(s) for d, s in run[q].items()} for q in query_ids}

    data = SimpleNamespace(queries={"q1": "a", "q2": "b", "q3": "c"}, doc_text=lambda d: f"text {d}")
    candidates = {"q1": {"d1": 1.0, "d2": 2.0, "d3": 0.5}, "q2": {"d1": 1.0}, "q3": {}}
    sample = latency_sample(candidates, ["q3", "q2", "q1"], 5)
    assert sample == ["q1", "q2"]  # sorted, only queries with candidates
    fake = Fake()
    lat, run = query_latency(fake, data, candidates, 2, sample)
    assert lat["queries"] == 2 and lat["p50_ms"] <= lat["p95_ms"] <= lat["max_ms"] + 1e-9
    assert fake.calls == [["q1"], ["q2"]]  # one call per query
    assert run == {"q1": {"d1": -1.0, "d2": -2.0, "d3": -0.5}, "q2": {"d1": -1.0}}  # the scores come back
    assert fake._cache == "cache" and fake.show_progress is True  # restored
    assert latency_sample(candidates, ["q1"], 0) == [] and query_latency(fake, data, candidates, 2, []) == (None, {})


def test_the_benchmark_scores_the_latency_sample_once_and_uses_those_scores():
    """Each pair is scored once: the sample's queries only alone (cache off), the rest in the batched pass."""
    from types import SimpleNamespace

    from rerankft.evaluation.benchmark import Settings, _rerank_timed

    class Fake:
        _cache, show_progress = "cache", True

        def __init__(self):
            self.batched, self.alone, self.stats = [], [], {"pairs": 0}

        def uncached(self):
            import contextlib

            fake = self

            @contextlib.contextmanager
            def off():
                fake._cache = None
                yield
                fake._cache = "cache"
            return off()

        def rerank_run(self, dataset, run, top_k, query_ids=None, desc=None):
            (self.alone if self._cache is None else self.batched).extend(query_ids)
            self.stats["pairs"] += sum(len(run[q]) for q in query_ids)
            return {q: {d: (100.0 if self._cache is None else 1.0) for d in run[q]} for q in query_ids}

    data = SimpleNamespace(queries={f"q{i}": "x" for i in range(5)}, doc_text=lambda d: d)
    candidates = {f"q{i}": {"d1": 1.0, "d2": 0.5} for i in range(5)}
    s = Settings(split="test", measures=["nDCG@10"], top_k=2, alpha=0.05, n_boot=10, n_perm=10, seed=0, latency_queries=2)
    fake = Fake()
    run, record = _rerank_timed(fake, data, candidates, s, list(candidates), "bm25>>fake", "fake")
    assert sorted(fake.alone) == ["q0", "q1"] and sorted(fake.batched) == ["q2", "q3", "q4"]
    assert run["q0"]["d1"] == 100.0 and run["q4"]["d1"] == 1.0 and sorted(run) == sorted(candidates)
    assert record["latency"]["queries"] == 2 and record["pairs"] == 10


def test_the_headline_says_when_the_prior_replaced_an_unsettled_dev_maximum():
    m = metrics_fixture()
    base = {"system": "bm25>>tuned", "chosen_on": "dev (27 queries carved from the training split)", "dev_ndcg@10": 0.4,
            "dev_stability": {"bm25>>base": 0.55, "bm25>>tuned": 0.30}, "test": m["systems"]["bm25>>tuned"]}
    m["final"] = {**base, "rule": {"prior": "bm25>>tuned", "min_stability": 0.7, "dev_maximum": "bm25>>base", "why": "prior"}}
    lines = "\n".join(report.final_lines(m))
    assert "**Final system: bm25>>tuned**" in lines
    assert ("its maximum, bm25>>base, wins only 55% of the bootstrap resamples of the dev queries (below "
            "dev.min_stability 70%), so the final system is the one named in advance, dev.prior = bm25>>tuned") in lines
    assert "How settled" not in lines
    m["final"] = {**base, "rule": {"prior": "bm25>>base", "min_stability": 0.7, "dev_maximum": "bm25>>tuned", "why": "dev"}}
    lines = "\n".join(report.final_lines(m))
    assert "How settled that choice is" in lines and "named in advance" not in lines
