"""Benchmark first-stage encoding and hard-negative mining on a BEIR folder (default: Cranfield).

    python benchmarks/bench_mining.py [BEIR_FOLDER] [--split train] [--model NAME] [--max-seq-length N]

Prints corpus-encoding docs/s, mining queries/s, peak memory (RSS), and cold (encode + mine,
empty cache) vs warm (cached embeddings, fresh retriever) wall time in the same process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rerankft.data.loading import load_beir_folder  # noqa: E402
from rerankft.mining.miner import mine_hard_negatives  # noqa: E402
from rerankft.retrieval.dense import ENCODE_CALLS  # noqa: E402
from rerankft.retrieval.factory import build_retriever  # noqa: E402

MINER = {"range_min": 10, "range_max": 100, "num_negatives": 4, "sampling_strategy": "random",
         "relative_margin": 0.05, "num_random_negatives": 1, "seed": 42}


def default_folder() -> Path:
    shared = os.environ.get("RERANKFT_SHARED_DATA") or str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    return Path(shared) / "cranfield"


def rss_mb() -> float:
    # ru_maxrss is the process's peak resident set: KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=str(default_folder()))
    p.add_argument("--split", default="train")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--max-seq-length", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    ds = load_beir_folder(args.folder)
    qrels = ds.split(args.split)
    cfg = {"kind": "dense", "name": args.model, "batch_size": args.batch_size, "block_size": 4096,
           "max_seq_length": args.max_seq_length}
    print(f"data: {ds.name}: {len(ds.corpus)} docs, {len(qrels)} {args.split} queries; model {args.model}, "
          f"max_seq_length {args.max_seq_length or 'model default'}")

    with tempfile.TemporaryDirectory() as cache:
        rss0 = rss_mb()
        cold = build_retriever(cfg, cache)
        cold.model  # load weights outside the timed encode  # noqa: B018
        rss_model = rss_mb()
        t0 = time.perf_counter()
        cold.corpus_embeddings(ds)
        t_encode = time.perf_counter() - t0
        t0 = time.perf_counter()
        mined = mine_hard_negatives(ds, qrels, cold, MINER)
        t_mine = time.perf_counter() - t0
        rss_cold = rss_mb()

        encoded_before = ENCODE_CALLS["docs"]
        t0 = time.perf_counter()
        warm = build_retriever(cfg, cache)
        warm.model  # noqa: B018
        t_load_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm.corpus_embeddings(ds)
        t_warm_emb = time.perf_counter() - t0
        t0 = time.perf_counter()
        mine_hard_negatives(ds, qrels, warm, MINER)
        t_warm_mine = time.perf_counter() - t0
        reencoded = ENCODE_CALLS["docs"] - encoded_before

        bm = build_retriever({"kind": "bm25"}, cache)
        t0 = time.perf_counter()
        bm.retrieve(ds, list(qrels), 100)
        t_bm25 = time.perf_counter() - t0

    n_q = mined.report["queries"]
    print(f"corpus encoding: {len(ds.corpus)} docs in {t_encode:.2f} s = {len(ds.corpus) / t_encode:.1f} docs/s")
    print(f"mining (cold; embeddings in memory, includes encoding the queries): {n_q} queries in {t_mine:.2f} s = {n_q / t_mine:.1f} queries/s "
          f"({mined.report['positives']} positives, {mined.report['negatives']['hard']} hard + {mined.report['negatives']['random']} random negatives)")
    print(f"warm run (fresh retriever, cached corpus embeddings, queries re-encoded): load cache {t_warm_emb:.3f} s, mine {t_warm_mine:.2f} s "
          f"= {n_q / t_warm_mine:.1f} queries/s; docs re-encoded: {reencoded}; model load {t_load_warm:.2f} s (not counted)")
    print(f"cold/warm ratio (encode + mine vs cache load + mine): {(t_encode + t_mine) / (t_warm_emb + t_warm_mine):.1f}x")
    print(f"bm25 (bm25s) index + top-100 for {len(qrels)} queries: {t_bm25:.2f} s")
    print(f"peak RSS: {rss_cold:.0f} MB (process start {rss0:.0f} MB, after model load {rss_model:.0f} MB, "
          f"encode + mine added {rss_cold - rss_model:.0f} MB)")
    s = mined.report["scores"]
    print(f"mined scores ({s['scorer']}): positive mean {s['positive'].get('mean')}, hard negative mean {s['hard_negative'].get('mean')}, "
          f"random negative mean {s['random_negative'].get('mean')}; pairs negatives/positive "
          f"{mined.report['class_balance']['negatives_per_positive']}")


if __name__ == "__main__":
    main()
