"""Issue lever "the first stage's score as text in the input" (Askari et al. 2023), measured on dev.

    python benchmarks/bench_score_as_text.py ../shared/data/cranfield [--out DIR] [-- HYDRA_OVERRIDES]
    python benchmarks/bench_score_as_text.py demo      # the bundled demo collection (data=demo)

Runs ``scripts/train.py data=beir_local data.path=<folder> dev.only=true`` (or ``data=demo``) in this process with the
cross-encoder's input changed from ``[CLS] query [SEP] passage [SEP]`` to Askari et al.'s
``[CLS] query [SEP] n [SEP] passage [SEP]``, n = the query's BM25 score of the passage min-max
normalised over the whole corpus for that query and rounded to an integer 0..100 (exact for any
passage, so training rows, dev reranking and every first stage's candidates get the same scale).
The number is written at the start of the passage text, so the ``mnrl_hard`` rows (one query,
several passages) can carry a different number per passage; a BERT tokenizer reads "[SEP]" in
the text as its separator, which makes the token sequence exactly theirs.

This is an experiment, not an option of the recipe: it swaps two functions for this process only
(the mined rows' ``ntuples`` conversion and ``Reranker.rerank_run``), so the run stops after its
dev choices and its model is only meaningful with the same input format. Compare its dev table
with ``python benchmarks/bench_quality.py --dev-only <folder>`` (the default input).
Measured: README "What to expect" (a measured no).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


class BM25Levels:
    """The integer level 0..100 of each (query, passage): BM25 min-max normalised over the corpus, per query."""

    def __init__(self, cache_dir):
        from rerankft.retrieval.bm25 import BM25Retriever

        self.bm25 = BM25Retriever({}, cache_dir=cache_dir)  # configs/retriever/bm25.yaml's defaults
        self.levels: dict[tuple[int, str], dict[str, int]] = {}

    def __call__(self, dataset, qid: str, doc_id: str) -> int:
        key = (id(dataset), qid)  # the datasets of one run (labelled, pseudo-query) live for the whole run
        if key not in self.levels:
            ids = sorted(dataset.corpus)
            s = self.bm25.score_pairs(dataset, [(qid, d) for d in ids])  # the query's exact score of every passage
            lo, hi = float(s.min()), float(s.max())
            n = np.rint(100 * (s - lo) / (hi - lo)) if hi > lo else np.zeros_like(s)
            self.levels[key] = dict(zip(ids, n.astype(int).tolist()))
        return self.levels[key][doc_id]


def install(levels: BM25Levels) -> None:
    """Swap in the score-as-text input for the mined rows (ntuples) and for every reranking."""
    import datasets

    from rerankft.core.runs import ranked_ids
    from rerankft.mining.rows import MiningResult
    from rerankft.scoring.empty import demote_empty_in_run
    from rerankft.scoring.reranker import Reranker

    def text(ds, qid, doc_id):
        return f"{levels(ds, qid, doc_id)} [SEP] {ds.doc_text(doc_id)}"

    def to_dataset(self, fmt, num_negatives=None, grade_weights=False):
        if fmt != "ntuples" or grade_weights:
            raise SystemExit(f"bench_score_as_text covers the default loss (ntuples rows, no grade weights), not {fmt}")
        n_neg, ds = num_negatives or self.negatives_per_row, self.dataset
        cols = {"query": [], "positive": [], **{f"negative_{i + 1}": [] for i in range(n_neg)}}
        for r in self.rows:
            if len(r.negatives) >= n_neg:  # as MiningResult.to_dataset: shorter rows are dropped
                cols["query"].append(ds.queries[r.qid])
                cols["positive"].append(text(ds, r.qid, r.positive))
                for i, n in enumerate(r.negatives[:n_neg]):
                    cols[f"negative_{i + 1}"].append(text(ds, r.qid, n))
        return datasets.Dataset.from_dict(cols)

    def rerank_run(self, dataset, run, top_k, query_ids=None, desc=None):
        qids = list(run) if query_ids is None else [str(q) for q in query_ids]
        owners = [(q, d) for q in qids for d in ranked_ids(run.get(q, {}))[:top_k]]
        pairs = [(dataset.queries[q], text(dataset, q, d)) for q, d in owners]
        scores = self.score(pairs, desc=desc or f"rerank {self.name}")
        out = {q: {} for q in qids}
        for (q, d), s in zip(owners, scores):
            out[q][d] = float(s)
        return demote_empty_in_run(out, owners, [dataset.doc_text(d) for _, d in owners])  # empty = no passage text

    MiningResult.to_dataset = to_dataset
    Reranker.rerank_run = rerank_run


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/{train,test}.tsv), or demo")
    ap.add_argument("--out", default=str(REPO / "outputs" / "bench_score_as_text"), help="run directories go under this")
    ap.add_argument("--cache-dir", default=None, help="the run's cache_dir, BM25 levels included (default: the recipe's)")
    args = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    demo = args.folder == "demo"
    folder = Path(args.folder).resolve()
    if not demo and not (folder / "corpus.jsonl").is_file():
        raise SystemExit(f"{folder}: not a BEIR folder (no corpus.jsonl)")
    run_dir = Path(args.out).resolve() / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    data = ["data=demo"] if demo else ["data=beir_local", f"data.path={folder}"]
    if args.cache_dir:
        data.append(f"cache_dir={Path(args.cache_dir).resolve()}")
    install(BM25Levels(args.cache_dir or os.environ.get("RERANKFT_CACHE") or REPO / ".cache" / "rerankft"))
    sys.argv = [str(REPO / "scripts" / "train.py"), *data, "dev.only=true",
                f"hydra.run.dir={run_dir}", *overrides]
    print("$", " ".join(sys.argv), "(score as text)", flush=True)
    t0 = time.perf_counter()
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    print(f"# {folder.name}: {(time.perf_counter() - t0) / 60:.1f} min; dev table:", flush=True)
    print(runpy.run_path(str(REPO / "benchmarks" / "bench_quality.py"))["table"]([run_dir]))


if __name__ == "__main__":
    main()
