"""Long documents: how much nDCG@10 truncation loses on long texts, and how much windowed scoring wins back.

    python benchmarks/bench_long_docs.py outputs/train/<run> --filler ../shared/data/cisi
    python benchmarks/bench_long_docs.py outputs/train/<run> --filler <folder> --split dev --queries 0 --top-k 20
    python benchmarks/bench_long_docs.py outputs/train/<run> --filler <folder> --write /tmp/cranfield-long  # the collection only

The run's own collection (its config.yaml's data) is made long: every passage becomes a document
of 1,000-2,000 tokens in which it sits whole at a random offset, between passages of another
collection (``--filler``, a different domain, so no filler is relevant to a query and the qrels
stay true; carried over unchanged, same ids). Candidates are the BM25 top-k of the ORIGINAL
collection, the same ids for every row, so rows differ only in what the reranker reads:

    short      the original passages (what truncation is measured against)
    long/<m>   the long documents, read with rerank.long_docs=<m>

and the table gives, per row, nDCG@10, seconds, pairs the model read and windows per long document,
then the share of truncation's loss each windowed mode recovers: (W - T) / (S - T).
Queries: the run's test split, or its dev queries carved exactly as training carved them
(``--split dev``: choose settings there). Deterministic: documents are built from ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from rerankft.core.metrics import evaluate_run, ndcg_at_10
from rerankft.core.runs import ranked_ids
from rerankft.data.dataset import RetrievalDataset, training_split
from rerankft.data.loading import load_beir_folder, load_from_config
from rerankft.evaluation.stats import paired_randomization_test
from rerankft.retrieval.factory import build_first_stage
from rerankft.scoring import windows as windowing_module
from rerankft.scoring.loading import run_model_dir
from rerankft.scoring.reranker import Reranker

MODES = ("truncate", "firstp", "maxp", "sump")


def long_collection(ds: RetrievalDataset, filler: RetrievalDataset, tokenizer, seed: int, lo: int, hi: int) -> RetrievalDataset:
    """``ds`` with every passage hidden inside a document of ``lo``-``hi`` tokens of filler passages."""
    fill_ids = sorted(filler.corpus)
    fill_text = [filler.doc_text(d) for d in fill_ids]
    fill_len = [len(x) for x in tokenizer(fill_text, add_special_tokens=False, verbose=False)["input_ids"]]
    ids = sorted(ds.corpus)
    own_len = dict(zip(ids, (len(x) for x in tokenizer([ds.doc_text(d) for d in ids], add_special_tokens=False, verbose=False)["input_ids"])))
    corpus = {}
    for doc_id in ids:
        rng = random.Random(f"{seed}:{doc_id}")
        target, total, parts = rng.randint(lo, hi), own_len[doc_id], []
        while total < target:
            k = rng.randrange(len(fill_ids))
            parts.append(fill_text[k])
            total += fill_len[k]
        parts.insert(rng.randint(0, len(parts)), ds.doc_text(doc_id))  # the passage, whole, at a random place
        corpus[doc_id] = {"title": "", "text": " ".join(parts)}
    return RetrievalDataset(f"{ds.name}-long", corpus, ds.queries, ds.qrels, source=f"{ds.source} + {filler.source}")


def write_beir(ds: RetrievalDataset, out: Path) -> None:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d, doc in ds.corpus.items():
            f.write(json.dumps({"_id": d, **doc}) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for q, text in ds.queries.items():
            f.write(json.dumps({"_id": q, "text": text}) + "\n")
    for split, qrels in ds.qrels.items():
        with open(out / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for q, docs in qrels.items():
                for d, g in docs.items():
                    f.write(f"{q}\t{d}\t{g}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a finished train run directory (config.yaml, model/)")
    ap.add_argument("--model", default=None, help="score with this model (a run directory or model folder) instead of the run's own; "
                    "the run still gives the data, its splits and dev queries")
    ap.add_argument("--filler", type=Path, default=None, help="a BEIR folder of another domain: the filler passages (--rows long)")
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--queries", type=int, default=50, help="the first N queries of the split by id (0: all)")
    ap.add_argument("--top-k", type=int, default=20, help="BM25 candidates per query (of the original collection)")
    ap.add_argument("--max-length", type=int, default=192, help="tokens per (query, passage) pair")
    ap.add_argument("--stride", type=int, default=None, help="rerank.stride (default: half a window)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--tokens", default="1000,2000", help="document length range in tokens")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--auto-beyond", type=int, default=None,
                    help="long_docs=auto windows passages longer than this many windows (default: the package's AUTO_MAXP_BEYOND)")
    ap.add_argument("--write", type=Path, default=None, help="write the long collection here (BEIR layout) and stop")
    ap.add_argument("--rows", choices=("long", "short"), default="long",
                    help="long: short/truncate then the long documents in each mode; short: the original passages in each mode")
    args = ap.parse_args(argv)

    if args.auto_beyond is not None:
        windowing_module.AUTO_MAXP_BEYOND = args.auto_beyond  # read at each plan_windows call
    cfg = OmegaConf.load(args.run / "config.yaml")
    ds = load_from_config(cfg.data)
    model = run_model_dir(args.model or args.run, "--model" if args.model else "run")
    engine = Reranker(model, max_length=args.max_length)
    lo, hi = (int(x) for x in args.tokens.split(","))
    if args.rows == "long" and args.filler is None:
        ap.error("--rows long needs --filler <BEIR folder of another domain>")
    long = long_collection(ds, load_beir_folder(args.filler), engine.tokenizer, args.seed, lo, hi) if args.rows == "long" else ds
    if args.write:
        write_beir(long, args.write)
        print(f"wrote {len(long.corpus)} documents to {args.write}")
        return 0

    if args.split == "dev":
        _, qrels = training_split(ds, cfg)
    else:
        qrels = ds.split(cfg.data.splits.test)
    qids = sorted(qrels)[: args.queries or None]
    qrels = {q: qrels[q] for q in qids}
    bm25 = build_first_stage("bm25", cfg, cfg.get("cache_dir")).retrieve(ds, qids, k=args.top_k)
    cands = {q: {d: 0.0 for d in ranked_ids(bm25.get(q, {}))[: args.top_k]} for q in qids}
    doc_tokens = [len(x) for x in engine.tokenizer([long.doc_text(d) for q in qids for d in cands[q]], add_special_tokens=False,
                                                   verbose=False)["input_ids"]]
    print(f"{len(qids)} {args.split} queries x BM25 top {args.top_k}; long documents {min(doc_tokens)}-{max(doc_tokens)} tokens "
          f"(mean {sum(doc_tokens) / len(doc_tokens):.0f}); pairs of {args.max_length} tokens", flush=True)

    rows = []
    plan = [("short", ds, "truncate")] + [(f"{args.rows}/{m}", long, m) for m in args.modes.split(",")]
    if args.rows == "short":
        plan = plan[1:]
    # One score cache for the rows: a window read by maxp is not read again by sump. The cost column is
    # therefore the number of pairs the mode reads (windows included), counted whether cached or not.
    with tempfile.TemporaryDirectory() as cache:
        for label, data, mode in plan:
            r = Reranker(model, max_length=args.max_length, long_docs=mode, stride=args.stride, cache_dir=cache)
            t0 = time.perf_counter()
            run = r.rerank_run(data, cands, args.top_k, query_ids=qids)
            seconds = time.perf_counter() - t0
            read = r.stats["scored"] + r.stats["cache_hits"]
            windows = r.stats["windows"] / r.stats["windowed_passages"] if r.stats["windowed_passages"] else 1.0
            per_query = evaluate_run(qrels, run, ["nDCG@10"])[1]["nDCG@10"]
            rows.append({"row": label, "nDCG@10": ndcg_at_10(qrels, run), "s": seconds, "read": read, "per_query": per_query})
            # Paired randomization test against the first row (same queries, same candidates).
            p = paired_randomization_test([per_query[q] for q in qids], [rows[0]["per_query"][q] for q in qids]) if len(rows) > 1 else None
            print(f"| {label:14s} | {rows[-1]['nDCG@10']:.4f} | {read:7d} pairs read ({read / len(doc_tokens):.2f} per passage) | "
                  f"{r.stats['windowed_passages']:5d} passages windowed, {windows:5.1f} windows each | {seconds:6.1f} s |"
                  + (f" vs {rows[0]['row']}: {rows[-1]['nDCG@10'] - rows[0]['nDCG@10']:+.4f}, p = {p:.3f} |" if p is not None else ""),
                  flush=True)
            r.close()
    if args.rows == "short":
        return 0
    short = rows[0]["nDCG@10"]
    trunc = next((r["nDCG@10"] for r in rows if r["row"] == "long/truncate"), None)
    if trunc is not None and short > trunc:
        for r in rows[1:]:
            if r["row"] != "long/truncate":
                print(f"{r['row']}: recovers {(r['nDCG@10'] - trunc) / (short - trunc):.0%} of truncation's loss "
                      f"(short {short:.4f}, truncate {trunc:.4f}, {r['row']} {r['nDCG@10']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
