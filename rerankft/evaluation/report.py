"""What a person reads: report.md (table, headroom, plain-words summary), report.png, per_query.tsv.

Everything here formats numbers that ``rerankft.evaluation.benchmark`` computed; nothing is
recomputed, so the report and metrics.json cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from rerankft.core.io import write_text
from rerankft.core.systems import FUSED, ORACLE, SEP
from rerankft.evaluation.curves import training_section
from rerankft.evaluation.latency import latency_lines, latency_png
from rerankft.evaluation.plots import plot

NOT_RERANKED_MARK = "(not reranked)"

FIRST_STAGE_MARK, BASE_MARK = "†", "‡"


def _fmt_p(p: float, alpha: float = 0.05) -> str:
    """Three decimals, or four where three would print the threshold itself ("p = 0.050: not significant")."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.4f}" if f"{p:.3f}" == f"{alpha:.3f}" else f"p = {p:.3f}"


def _is_reranker(system: str) -> bool:
    return SEP in system and not system.endswith(SEP + ORACLE)


def write_per_query_tsv(path: Path, per_query: dict, query_ids: list[str]) -> Path:
    """One line per (system, query, measure): the numbers behind every test and interval."""
    lines = ["system\tquery_id\tmeasure\tvalue"]
    for system, by_measure in per_query.items():
        for measure, values in by_measure.items():
            lines += [f"{system}\t{q}\t{measure}\t{values[q]:.6f}" for q in query_ids]
    return write_text(path, "\n".join(lines) + "\n")


def _aligned(rows: list[list[str]]) -> str:
    """A markdown table padded to equal column widths, so it also reads well in a terminal."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in rows[1:]])


def _significant(metrics: dict, system: str, measure: str, kind: str) -> bool:
    return any(
        c["significant"] for c in metrics["comparisons"]
        if c["system"] == system and c["measure"] == measure and c["kind"] == kind
    )


def results_table(metrics: dict) -> str:
    """Systems x measures with 95% CIs, best (non-oracle) in bold, significance marks, and reranking cost."""
    measures, systems = metrics["measures"], metrics["systems"]
    best = {
        m: max((round(v[m], 3) for s, v in systems.items() if not s.endswith(SEP + ORACLE)), default=None)
        for m in measures
    }
    header = ["system"] + measures + ["rerank s", "ms/query", "pairs/s"]
    rows = [header]
    reranked = {s.split(SEP)[0] for s in systems if SEP in s and not s.endswith(SEP + ORACLE)}
    for s, values in systems.items():
        # A first stage whose candidates no reranker reordered says so: bold on it is that first
        # stage's own score, not a reranking this table has a row for.
        row = [s if SEP in s or s in reranked or not reranked else f"{s} {NOT_RERANKED_MARK}"]
        for m in measures:
            v = f"{values[m]:.3f}"
            if not s.endswith(SEP + ORACLE) and round(values[m], 3) == best[m]:
                v = f"**{v}**"
            marks = (FIRST_STAGE_MARK if _significant(metrics, s, m, "first_stage") else "") + (
                BASE_MARK if _significant(metrics, s, m, "base") else ""
            )
            lo, hi = metrics["ci95"][s][m]
            row.append(f"{v}{marks} [{lo:.2f}, {hi:.2f}]")
        c = metrics["cost"].get(s)
        if c:
            pps = c.get("pairs_per_s")
            # Pairs served from the score cache are not model speed: say so instead of printing it as speed.
            cached = c.get("cache_hits") and c["cache_hits"] >= 0.5 * max(1, c.get("pairs") or 0)
            row += [f"{c['wall_s']:.1f}", f"{c['ms_per_query']:.0f}",
                    "cached" if cached else (f"{pps:.0f}" if pps is not None else "-")]
        else:
            row += ["-", "-", "-"]
        rows.append(row)
    return _aligned(rows)


def headroom_table(metrics: dict) -> str:
    measures = metrics["measures"]
    rows = [["reranker"] + [f"{m} headroom closed" for m in measures]]
    for s, by_m in metrics["headroom"].items():
        rows.append([s] + [f"{v:.0%}" if v is not None else "n/a (oracle = first stage)" for v in by_m.values()])
    return _aligned(rows) if len(rows) > 1 else ""


def _comparison(metrics: dict, system: str, baseline: str, measure: str) -> dict | None:
    return next(
        (c for c in metrics["comparisons"] if c["system"] == system and c["baseline"] == baseline and c["measure"] == measure),
        None,
    )


def primary_measure(metrics: dict) -> str:
    return "nDCG@10" if "nDCG@10" in metrics["measures"] else metrics["measures"][0]


MEASURE_TEXT = {  # one line each, for report.md; k is the cutoff
    "nDCG": "graded gain of the top {k}, discounted by rank, relative to the best possible order (the headline)",
    "RR": "1 / rank of the first relevant document within the top {k} (MRR when averaged)",
    "R": "share of the query's relevant documents found in the top {k}",
    "Success": "hit rate: 1 if any relevant document is in the top {k}, else 0",
    "P": "share of the top {k} that is relevant",
    "AP": "average of the precision at each relevant document's rank, over the whole ranking evaluated",
}


def measure_lines(measures: list[str]) -> list[str]:
    lines = []
    for m in measures:
        name, _, k = m.partition("@")
        text = MEASURE_TEXT.get(name)
        if text:
            lines.append(f"- {m}: {text.format(k=k or 'ranking')}.")
    return lines


def final_lines(metrics: dict) -> list[str]:
    """The headline: the system chosen on dev queries, its test figures, and how it compares with each first stage."""
    final = metrics.get("final")
    if not final:
        return ["No final system: nothing was chosen on dev queries (a train run chooses one; "
                "`scripts/eval.py tuned=<train run>` reuses its choice). The table below compares every system."]
    name, m = final["system"], primary_measure(metrics)
    if final.get("test") is None:
        return [f"The final system chosen on dev, {name}, was not benchmarked here (see eval.rerank_first_stages)."]
    systems = metrics["systems"]
    first_stages = [s for s in systems if SEP not in s]
    line = (f"**Final system: {name}** (chosen on {final['chosen_on']}, dev {m} {final.get('dev_ndcg@10') or 0:.3f}): "
            f"test {m} **{systems[name][m]:.3f}**")
    lines = [line + "."]
    if name in first_stages:
        lines.append(f"- On the dev queries no tuned system beat {name} alone, so the final system is a first stage: "
                     "fine-tuning did not pay off on this collection's dev split (the tuned rows below show by how much).")
    share = final.get("dev_stability") or {}
    rule = final.get("rule") or {}
    if rule.get("dev_maximum") and rule["dev_maximum"] != name:  # dev.min_stability sent the choice to dev.prior
        best = rule["dev_maximum"]
        lines.append(f"- Dev could not separate the leaders: its maximum, {best}, wins only {share.get(best, 0):.0%} of the "
                     f"bootstrap resamples of the dev queries (below dev.min_stability {rule.get('min_stability', 0):.0%}), "
                     f"so the final system is the one named in advance, dev.prior = {name}.")
    elif share:  # how settled the dev choice is: bootstrap resamples of the dev queries
        others = ", ".join(f"{n} {v:.0%}" for n, v in share.items() if n != name) or "no other system"
        lines.append(f"- How settled that choice is: resampling the dev queries (bootstrap), {name} is chosen in "
                     f"{share.get(name, 0):.0%} of the draws ({others}).")
    agreement = final.get("dev_test_agreement")
    if agreement and agreement.get("kendall_tau") is not None:
        lines.append(f"- Dev predicts test: Kendall tau {agreement['kendall_tau']:+.2f} between the dev and test nDCG@10 "
                     f"rankings of the {agreement['systems']} systems scored on both (1 = same order; small dev splits are noisy).")
    for fs in first_stages:
        if fs == name:
            continue
        c = _comparison(metrics, name, fs, m)
        delta = systems[name][m] - systems[fs][m]
        p = f"; paired {_fmt_p(c['p'])}, {_fmt_p(c['p_holm'])} Holm-adjusted" if c else ""
        lines.append(f"- vs {fs} alone ({systems[fs][m]:.3f}): {delta:+.3f}{p}.")
    return lines


def summary_lines(metrics: dict) -> list[str]:
    """Plain-words verdicts: who beats whom by how much (with p), and how much headroom is closed."""
    m = primary_measure(metrics)
    systems, top_k, alpha = metrics["systems"], metrics["top_k"], metrics["statistics"]["alpha"]
    names = list(metrics["rerankers"])
    first_stages = [s for s in systems if SEP not in s]
    n_comparisons = len(metrics["comparisons"])
    lines = []
    for fs in first_stages:
        oracle = f"{fs}{SEP}{ORACLE}"
        for name in names:
            s = f"{fs}{SEP}{name}"
            others = [o for o in first_stages if o != fs]
            unfused = [s[: -len(FUSED)]] if name.endswith(FUSED) else []  # what fusion adds over the reranker alone
            for baseline in ([f"{fs}{SEP}base"] if name != "base" and "base" in names else []) + unfused + [fs] + others:
                c = _comparison(metrics, s, baseline, m)
                if c is None:
                    continue
                verb = "beats" if c["delta"] > 0 else "trails" if c["delta"] < 0 else "ties with"
                sig = "significant" if c["significant"] else "not significant"
                label = baseline.split(SEP, 1)[1] if SEP in baseline else baseline  # "base" reads better than "bm25>>base"
                # Both p-values: the comparison's own (what a single planned comparison is judged by) and
                # Holm-adjusted over every comparison in this report (what the marks and verdict use).
                lines.append(
                    f"- On {fs}'s top {top_k}, **{name} {verb} {label}** on {m} by {c['delta']:+.3f} "
                    f"({systems[s][m]:.3f} vs {systems[baseline][m]:.3f}; paired {_fmt_p(c['p'])}, "
                    f"{_fmt_p(c['p_holm'])} Holm-adjusted over {n_comparisons}: {sig} at {alpha}; "
                    f"better on {c['wins']} queries, worse on {c['losses']})."
                )
            h = metrics["headroom"].get(s, {}).get(m)
            if h is not None and h < 0:
                lines.append(
                    f"- {name} is worse than {fs} alone on {m}: it closes none of the headroom "
                    f"({fs} {systems[fs][m]:.3f} -> {name} {systems[s][m]:.3f}; oracle {systems[oracle][m]:.3f})."
                )
            elif h is not None:
                lines.append(
                    f"- {name} closes **{h:.0%} of the headroom** on {m} over {fs} "
                    f"({fs} {systems[fs][m]:.3f} -> {name} {systems[s][m]:.3f} -> oracle {systems[oracle][m]:.3f})."
                )
        gap = systems[oracle][m] - systems[fs][m]
        line = f"- Ceiling for {fs}: the oracle over its top {top_k} reaches {m} {systems[oracle][m]:.3f} (+{gap:.3f} over {fs} alone)"
        recall = metrics.get("first_stages", {}).get(fs, {}).get("recall_at_top_k")
        if recall is not None:
            line += (
                f"; its R@{top_k} is {recall:.3f}: on average {1 - recall:.0%} of a query's relevant documents are not among "
                f"the {top_k} candidates, so no reranker can find them; only a better first stage (or a larger top_k) recovers those"
            )
        lines.append(line + ".")
    return lines


def cost_lines(metrics: dict) -> list[str]:
    lines = []
    for s, c in metrics["cost"].items():
        extra = []
        if c.get("scored_pairs") is not None or c.get("cache_hits"):  # other libraries' rerankers count neither
            model_pairs = c["scored_pairs"] if c.get("scored_pairs") is not None else c["pairs"] - c["cache_hits"]
            extra.append(f"{model_pairs} pairs scored by the model, {c.get('cache_hits') or 0} served from the score cache"
                         + (" (so the speed is not a pure model speed)" if c.get("cache_hits") else ""))
        if (c.get("processes") or 1) > 1:
            extra.append(f"split over {c['processes']} processes")
        if c.get("truncated_pairs") is not None:
            # Counted over the pairs the model scored: score-cache hits are not re-tokenized, so not counted.
            scored = c.get("scored_pairs") or c.get("pairs") or 0
            share = c["truncated_pairs"] / scored if scored else 0.0
            extra.append(
                f"{c['truncated_pairs']} of {scored} scored pairs ({share:.1%}) were longer than max_length"
                + (f" ({c['max_length']} tokens)" if c.get("max_length") else "")
                + " and truncated (longest_first: the longer text, usually the passage, loses its end)"
            )
        if c.get("long_docs") not in (None, "truncate"):
            n_win = c.get("windowed_passages") or 0
            longer = "four windows" if c["long_docs"] == "auto" else "one window"
            extra.append(
                f"long_docs={c['long_docs']}: {n_win} of {c['pairs']} passages were longer than {longer}"
                + (f" and were read as {c['windows'] / n_win:.1f} windows on average" if n_win else "")
            )
        lines.append(
            f"- {s}: {c['pairs']} pairs in {c['wall_s']:.1f} s ({c['ms_per_query']:.0f} ms/query, "
            f"{c['pairs_per_s'] or 0:.0f} pairs/s) on {c.get('device') or '?'} with backend {c.get('backend') or '?'}"
            + (f"; {'; '.join(extra)}" if extra else "") + "."
        )
    return lines


def markdown(metrics: dict) -> str:
    st = metrics["statistics"]
    parts = [
        f"# Reranker benchmark: {metrics['dataset']} / {metrics['split']}",
        "",
        f"{metrics['queries']} queries; every reranker reorders the same top {metrics['top_k']} candidates of each first stage. "
        f"`<first stage>>>oracle` sorts those candidates by the relevance judgements: the best any reranker of them can do.",
        "",
        *([f"**Warning: only {metrics['queries']} queries.** With fewer than 10, confidence intervals and p-values "
           "say little (a 2-query split can show [1.00, 1.00]); read the figures as anecdotes.", ""]
          if metrics["queries"] < 10 else []),
        "## Summary",
        "",
        *final_lines(metrics),
        "",
        *summary_lines(metrics),
        "",
        "## Results",
        "",
        results_table(metrics),
        "",
        f"Cells: mean over queries, [95% bootstrap CI]. **Bold**: best system (oracles excluded). "
        f"{FIRST_STAGE_MARK}: significantly different from its first stage; {BASE_MARK}: significantly different from base "
        f"(either direction; {st['test']}, {st['correction']}, adjusted p < {st['alpha']}). "
        "Cost columns: reranking only, measured in this run.",
        "",
        f"**Recall ceiling:** {metrics['notes']['recall_ceiling']}",
        "",
    ]
    explained = measure_lines(metrics["measures"])
    if explained:
        parts += ["## Measures", "", *explained, "(ir-measures on the qrels; a query without any retrieved document scores 0.)", ""]
    head = headroom_table(metrics)
    if head:
        parts += ["## Headroom closed", "", "(reranker - first stage) / (oracle - first stage)", "", head, ""]
    costs = cost_lines(metrics)
    if costs:
        parts += ["## Cost", "", *costs, ""]
    latency = latency_lines(metrics)
    if latency:
        parts += ["Latency per query (what one search waits for; the table's ms/query is throughput):", "", *latency,
                  "", "latency.png: quality against latency.", ""]
    fusion = metrics.get("fusion") or {}
    if fusion:
        parts += ["## Score fusion", ""]
        for name, f in fusion.items():
            parts.append(f"- {name}: weights fitted on the dev queries (never the test split), per first stage's candidates: "
                         f"{_weights_text(f['weights'])}. Scores are z-normalised per query over the top {metrics['top_k']}; "
                         f"the reranker keeps the rest of the weight; it costs no extra model calls."
                         + "".join(f" Its {sig} signal is the run's fine-tuned bi-encoder ({path}), not the untrained "
                                   f"{sig} first stage; the first stages {sig}-ft (and hybrid-ft) retrieve with it too, "
                                   "while the untrained ones stay the baselines." for sig, path in (f.get("signal_models") or {}).items()))
        parts.append("")
    parts += [
        "## Files",
        "",
        "metrics.json (all numbers, CIs, p-values), per_query.tsv, runs/*.trec (one per system), report.png.",
        "",
    ]
    return "\n".join(parts)


def _weights_text(weights: dict) -> str:
    """{fs: 0.3} (one first-stage weight) or {fs: {"bm25": 0.2, "dense": 0.3}} -> readable text."""
    out = []
    for fs, w in weights.items():
        if isinstance(w, dict):
            out.append(f"{fs}: " + " + ".join(f"{w_s:.1f} * z({sig})" for sig, w_s in w.items()))
        else:
            out.append(f"{fs}: {float(w):.1f} * z({fs})")
    return "; ".join(out)


def write_report(out_dir: Path, metrics: dict, per_query: dict, query_ids: list[str]) -> str:
    """Write report.md and report.png; returns the results table (for the console)."""
    out_dir = Path(out_dir)
    md = markdown(metrics)
    training = training_section(out_dir)
    if training:
        md = md.replace("## Files", "\n".join(training) + "\n## Files", 1)
    write_text(out_dir / "report.md", md)
    plot(out_dir / "report.png", metrics, per_query, query_ids, primary_measure(metrics))
    latency_png(out_dir / "latency.png", metrics)
    return results_table(metrics) + "\n" + "\n".join(summary_lines(metrics))
