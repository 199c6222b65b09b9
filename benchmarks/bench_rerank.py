"""Reranking speed and fidelity: CrossEncoder.predict vs rerankft's engine and backends, side by side.

    python benchmarks/bench_rerank.py                       # packaged MiniLM, seeded fresh head
    python benchmarks/bench_rerank.py --model outputs/train/<run>/model --systems predict,torch,onnx-int8

Two pair sets, both from Cranfield's test queries x BM25 top-k (rerankft's BM25 first stage with
its packaged defaults; the first --queries test queries by id, so the subset is fixed):
  (a) cranfield: the pairs as they are (title + abstract, nearly all at the length cap);
  (b) mixed: the same pairs with each passage cut to a seeded random length of 16-256
      tokens, standing in for RAG candidate lists with chunks of very different lengths.

Choose cascade settings with --split dev (the --model run's own dev queries: neither the tuned model
nor a student distilled on the run's rows saw them), taking the fastest setting whose nDCG@10 is
within 0.01 of predict's either way on both sets; then read the test figures once. --split train
flatters a student: on the training queries whose rows it was distilled on, student@64/40 was
within 0.006 of predict, on test 0.043 below it.

Each query's candidate list is one reranking call (what a RAG pipeline or an eval does per
query). Systems take turns on every query, in a rotating order (A B C / B C A / ...), all in
this one process, so machine noise (other jobs on shared cores) hits every system alike;
pairs/s is the median over queries. Scores of every system are compared with
``CrossEncoder.predict(batch_size=32)`` on the same model and pairs; nDCG@10 is
rerankft.core.metrics' (ir-measures) over the benchmarked queries.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = os.environ.get("RERANKFT_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    ap.add_argument("--data", default=str(Path(shared) / "cranfield"), help="BEIR folder (default: shared Cranfield)")
    ap.add_argument("--model", default=None, help="cross-encoder folder or hub id (default: packaged MiniLM, fresh head, seed 0)")
    ap.add_argument("--queries", type=int, default=20, help="test queries (first N by id)")
    ap.add_argument("--split", default="test", help="whose queries: test; dev (the --model run's dev queries, carved from "
                                                    "its training split as training carved them: no model or student "
                                                    "trained on them, the split to choose settings on); or train to choose settings without "
                                                    "looking at test (the first N training queries by id)")
    ap.add_argument("--top-k", type=int, default=100, help="BM25 candidates per query")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--systems", default="predict,torch,torch-bf16,onnx,onnx-int8,cascade",
                    help="comma list: predict (CrossEncoder.predict, the reference), rerankft backends "
                         "(torch, torch-bf16 = bf16 autocast, onnx, onnx-int8, openvino, openvino-bf16, openvino-int8: "
                         "these three need the openvino extra) and cascade (see --cascade-*)")
    ap.add_argument("--cascade-full", default="torch-bf16", help="the cascade's full model: one of the backends above")
    ap.add_argument("--cascade-backend", default="onnx-int8", help="the cascade's cheap pass: backend")
    ap.add_argument("--cascade-max-length", type=int, default=64, help="the cheap pass's tokens per pair")
    ap.add_argument("--cascade-model", default=None, help="the cheap pass's model of cascade-student[@L/K] systems "
                                                            "(e.g. scripts/distill.py's student); cascade[@L/K] uses --model itself")
    ap.add_argument("--cascade-keep", type=int, default=20, help="candidates per query the full model rescores")
    ap.add_argument("--sets", default="cranfield,mixed")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mixed-length cuts (and the fresh head)")
    ap.add_argument("--cache-dir", default=str(REPO / ".cache" / "rerankft"), help="where ONNX / OpenVINO exports are kept")
    ap.add_argument("--profile", type=int, default=200, metavar="PAIRS",
                    help="after the timings, profile each rerankft backend on this many Cranfield pairs: "
                         "share of compute per operator (0 = skip)")
    return ap.parse_args()


# ----------------------------------------------------------------------------- pairs


def bm25_candidates(dataset, qids, k):
    """Each query's BM25 top-k doc ids, best first: rerankft's BM25 first stage (packaged defaults, no index cache)."""
    from rerankft.core.runs import ranked_ids
    from rerankft.retrieval.factory import build_first_stage

    run = build_first_stage("bm25", None, None).retrieve(dataset, qids, k)
    return {q: ranked_ids(run.get(q, {})) for q in qids}


def dev_queries(dataset, args):
    """The dev queries of the run that --model belongs to (<run>/model): carved from the training split with
    the run's own fraction and seed, so neither the tuned model nor a student distilled on the run's rows saw
    them. Training queries flatter a student: it was distilled on exactly their rows."""
    from omegaconf import OmegaConf

    from rerankft.data.dataset import training_split

    run_cfg = Path(args.model or "").parent / "config.yaml"
    if not args.model or not run_cfg.is_file():
        sys.exit(f"error: --split dev needs --model <run>/model of a train run (no {run_cfg})")
    cfg = OmegaConf.load(run_cfg)
    return training_split(dataset, cfg)[1]


def cut_passages(tokenizer, texts, seed, lo=16, hi=256):
    """Each passage cut to a seeded random length in [lo, hi] tokens (decoded back to text)."""
    rng = random.Random(seed)
    out = []
    for t in texts:
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        n = rng.randint(lo, hi)
        out.append(tokenizer.decode(ids[:n], skip_special_tokens=True, clean_up_tokenization_spaces=True))
    return out


def ndcg10(qrels, qids, cands, scores_by_q):
    """Mean nDCG@10 over ``qids`` of one system's scores (rerankft.core.metrics, ir-measures underneath)."""
    from rerankft.core.metrics import ndcg_at_10

    run = {q: {d: float(s) for d, s in zip(cands[q], scores_by_q[q])} for q in qids}
    qrels = {q: {d: int(g) for d, g in qrels[q].items()} for q in qids}
    return ndcg_at_10(qrels, run)


def padding_profile(pairs_by_q, qids, tok, args, engine):
    """Where the time goes: tokens the model computes (padded) per real token, per batching scheme.

    On CPU a cross-encoder's cost is close to proportional to padded tokens (linear layers
    dominate at these lengths), so this bounds what batching alone can gain. rerankft's cut is
    :func:`rerankft.scoring.batching.cheapest_batches` with the ``engine``'s token budget and
    pair cap (no batch_size: ``MAX_BATCH_PAIRS``), as its ``score`` batches them.
    """
    from rerankft.scoring.batching import MAX_BATCH_PAIRS, cheapest_batches

    real = pad_predict = pad_engine = 0
    for q in qids:
        pairs = pairs_by_q[q]
        lens = np.array([len(x) for x in tok([a for a, _ in pairs], [b for _, b in pairs], truncation="longest_first",
                                              max_length=args.max_length)["input_ids"]])
        real += int(lens.sum())
        # CrossEncoder.predict (sentence-transformers 6): sort by characters, fixed batches of 32.
        order = np.argsort([-(len(a) + len(b)) for a, b in pairs], kind="stable")
        for i in range(0, len(order), 32):
            b = order[i : i + 32]
            pad_predict += len(b) * int(lens[b].max())
        if engine is not None:
            cap = MAX_BATCH_PAIRS if engine.batch_size is None else min(MAX_BATCH_PAIRS, engine.batch_size)
            for b in cheapest_batches(lens, engine.batch_tokens, cap):
                pad_engine += len(b) * int(lens[b].max())
    out = f"padding profile: predict computes {pad_predict / real:.3f} tokens per real token"
    if engine is not None:
        out += (f", rerankft {pad_engine / real:.3f} (batching alone can save at most "
                f"{1 - pad_engine / pad_predict:.1%} of predict's token work)")
    return out


# ----------------------------------------------------------------------------- profiles


def profile_torch(engine, pairs, top=8):
    """Self CPU time per aten operator (torch.profiler) while the engine scores ``pairs``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        engine.score(pairs)
    rows = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    return _shares(rows, top)


def profile_onnx(engine, pairs, top=8):
    """Time per ONNX operator type (ONNX Runtime's own profiler) while the engine scores ``pairs``."""
    import json as _json

    import onnxruntime as ort
    import torch

    runner = engine.model[0].model.run  # rerankft.scoring.backends' OnnxScores
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    plain, runner.session = runner.session, ort.InferenceSession(runner.onnx_path, opts, providers=["CPUExecutionProvider"])
    try:
        engine.score(pairs)
        trace = runner.session.end_profiling()
    finally:
        runner.session = plain
    rows = {}
    for ev in _json.loads(Path(trace).read_text()):
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            op = ev.get("args", {}).get("op_name", "?")
            rows[op] = rows.get(op, 0) + ev.get("dur", 0)
    return _shares(list(rows.items()), top)


def profile_openvino(engine, pairs, top=8):
    """Time per OpenVINO node type (the CPU plugin's PERF_COUNT) while the engine scores ``pairs``."""
    from rerankft.scoring.openvino import _compile, _read

    runner = engine.model[0].model.run  # rerankft.scoring.openvino's OpenVinoScores
    rows = {}

    class Profiled:  # stands in for the runner's infer request and adds up each call's node times
        def __init__(self, request):
            self.request = request

        def infer(self, feed):
            out = self.request.infer(feed)
            for node in self.request.profiling_info:
                rows[node.node_type] = rows.get(node.node_type, 0) + node.real_time.total_seconds() * 1e6
            return out

    plain = runner.request, runner.port
    hint = runner.compiled.get_property("INFERENCE_PRECISION_HINT")  # bf16 for openvino-bf16
    profiled = _compile(_read(runner.model_path), PERF_COUNT=True, INFERENCE_PRECISION_HINT=hint)
    # the profiled model's own request and output port (a port of the plain model is not a key of its results)
    runner.request, runner.port = Profiled(profiled.create_infer_request()), profiled.output(runner.port.any_name)
    try:
        engine.score(pairs)
    finally:
        runner.request, runner.port = plain
    return _shares(list(rows.items()), top)


def _shares(rows, top):
    total = sum(t for _, t in rows) or 1
    rows = sorted(rows, key=lambda r: -r[1])
    parts = [f"{name} {t / total:.0%}" for name, t in rows[:top]]
    return f"{total / 1e6:.1f} s profiled: " + ", ".join(parts)


# ----------------------------------------------------------------------------- main


def main():
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # results appear as each set finishes, also when redirected
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    import torch
    from sentence_transformers import CrossEncoder
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from rerankft.data.loading import load_beir_folder
    from rerankft.modeling.names import resolve_model_name
    from rerankft.scoring.reranker import Reranker

    data = Path(args.data)
    if not (data / "corpus.jsonl").is_file():
        sys.exit(f"error: no BEIR folder at {data} (set --data or RERANKFT_SHARED_DATA)")
    dataset = load_beir_folder(data, splits=["train" if args.split == "dev" else args.split])
    qrels = dev_queries(dataset, args) if args.split == "dev" else dataset.split(args.split)
    qids = sorted(qrels)[: args.queries]
    cands = bm25_candidates(dataset, qids, args.top_k)

    # The model: saved to a folder so every backend loads the very same weights.
    if args.model:
        model_dir, model_desc = resolve_model_name(args.model), args.model
    else:
        torch.manual_seed(args.seed)
        base = CrossEncoder(resolve_model_name("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
        model_dir = str(Path(args.cache_dir) / f"bench-minilm-freshhead-seed{args.seed}")
        if not (Path(model_dir) / "config.json").is_file():
            base.save_pretrained(model_dir)
        model_desc = f"all-MiniLM-L6-v2 (packaged) as a cross-encoder with a fresh head (torch.manual_seed({args.seed}); untrained)"
    from rerankft.modeling.heads import needs_trust

    # A segment_cosine model ships its head's code (modeling_rerankft.py): trust_remote_code loads it.
    reference = CrossEncoder(model_dir, max_length=args.max_length, device="cpu",
                             trust_remote_code=needs_trust(model_dir))
    tok = reference.tokenizer

    texts = {q: [dataset.doc_text(d) for d in cands[q]] for q in qids}
    sets = {}
    if "cranfield" in args.sets:
        sets["cranfield"] = texts
    if "mixed" in args.sets:
        flat = [t for q in qids for t in texts[q]]
        cut = cut_passages(tok, flat, args.seed)
        it = iter(cut)
        sets["mixed"] = {q: [next(it) for _ in texts[q]] for q in qids}

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    engines = {}
    def engine(name, model=model_dir, max_length=args.max_length):
        if name in ("torch", "torch-bf16"):
            return Reranker(reference if model == model_dir and max_length == args.max_length else model,
                            precision="bf16" if name == "torch-bf16" else "fp32", max_length=max_length,
                            batch_tokens=args.batch_tokens, device="cpu", allow_fresh_head=True)
        return Reranker(model, backend=name, max_length=max_length, batch_tokens=args.batch_tokens,
                        cache_dir=args.cache_dir, score_cache=False, allow_fresh_head=True)

    for s in systems:
        if s == "predict":
            continue
        t0 = time.perf_counter()
        if s.startswith("cascade"):
            from rerankft.scoring.cascade import Cascade

            # cascade, or cascade@<cheap max_length>/<keep> to compare settings in one run
            # cascade-student...: the cheap pass is --cascade-model (e.g. scripts/distill.py's student)
            length, keep = (map(int, s.split("@", 1)[1].split("/")) if "@" in s
                            else (args.cascade_max_length, args.cascade_keep))
            if s.startswith("cascade-student") and not args.cascade_model:
                sys.exit("error: cascade-student needs --cascade-model <student folder>")
            cheap = engine(args.cascade_backend, args.cascade_model if s.startswith("cascade-student") else model_dir, length)
            engines[s] = Cascade(engines.get(args.cascade_full) or engine(args.cascade_full), cheap, keep)
        else:
            engines[s] = engine(s)
        print(f"# loaded {s} in {time.perf_counter() - t0:.1f} s (exports are cached under --cache-dir)", file=sys.stderr)

    def run_system(name, pairs):
        if name == "predict":
            return reference.predict(pairs, batch_size=32, show_progress_bar=False)
        return engines[name].score(pairs)

    print(f"model: {model_desc}")
    if any(x.startswith("cascade") for x in systems):
        print(f"cascade[@L/K]: {args.cascade_backend} of the model at L tokens (default {args.cascade_max_length}) orders each "
              f"query's {args.top_k}, {args.cascade_full} rescores its top K (default {args.cascade_keep}); cascade-student: "
              f"the cheap pass is {args.cascade_model}")
    print(f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}; shared with other jobs, so absolute pairs/s are noisy: compare ratios")
    print(f"pairs: {len(qids)} {Path(args.data).name} {args.split} queries (first by id) x BM25 top-{args.top_k} = "
          f"{sum(len(cands[q]) for q in qids)} pairs, max_length {args.max_length}, batch_tokens {args.batch_tokens}")
    print("method: per query, each system reranks that query's list; systems alternate in rotating order; "
          "pairs/s = median over queries\n")

    for set_name, set_texts in sets.items():
        pairs_by_q = {q: [(dataset.queries[q], t) for t in set_texts[q]] for q in qids}
        lens = [len(ids) for q in qids for ids in tok([p[0] for p in pairs_by_q[q]], [p[1] for p in pairs_by_q[q]],
                                                     truncation="longest_first", max_length=args.max_length)["input_ids"]]
        at_cap = np.mean(np.array(lens) >= args.max_length)
        desc = ("as retrieved" if set_name == "cranfield" else
                f"each passage cut to a seeded (seed {args.seed}) random length of 16-256 tokens")
        print(f"== {set_name}: {desc}; tokens/pair mean {np.mean(lens):.0f}, median {np.median(lens):.0f}, "
              f"{at_cap:.0%} at the length cap")
        print("   " + padding_profile(pairs_by_q, qids, tok, args, engines.get("torch")))
        # Warm-up (first-call costs: thread pools, ORT session arenas), not timed.
        warm = pairs_by_q[qids[0]][:8]
        for s in systems:
            run_system(s, warm)
        rates = {s: [] for s in systems}
        total = {s: 0.0 for s in systems}
        scores = {s: {} for s in systems}
        for i, q in enumerate(qids):
            order = systems[i % len(systems):] + systems[: i % len(systems)]
            for s in order:
                t0 = time.perf_counter()
                sc = np.asarray(run_system(s, pairs_by_q[q]), dtype=np.float32)
                dt = time.perf_counter() - t0
                rates[s].append(len(pairs_by_q[q]) / dt)
                total[s] += dt
                scores[s][q] = sc
        ref_rate = statistics.median(rates["predict"]) if "predict" in rates else None
        print(f"{'system':<22}{'pairs/s':>9}{'vs predict':>12}{'max|diff|':>12}{'nDCG@10':>9}  rankings vs predict")
        for s in systems:
            med = statistics.median(rates[s])
            ratio = f"{med / ref_rate:.2f}x" if ref_rate else "-"
            if "predict" in scores:
                diff = max(float(np.abs(scores[s][q] - scores["predict"][q]).max()) for q in qids)
                same = sum(np.array_equal(np.argsort(-scores[s][q], kind="stable"),
                                          np.argsort(-scores["predict"][q], kind="stable")) for q in qids)
                top10 = sum(np.array_equal(np.argsort(-scores[s][q], kind="stable")[:10],
                                           np.argsort(-scores["predict"][q], kind="stable")[:10]) for q in qids)
                agree = "reference" if s == "predict" else f"{same}/{len(qids)} identical, top-10 identical {top10}/{len(qids)}"
            else:
                diff, agree = float("nan"), "-"
            label = "CrossEncoder.predict" if s == "predict" else f"rerankft {s}"
            print(f"{label:<22}{med:>9.1f}{ratio:>12}{diff:>12.2e}{ndcg10(qrels, qids, cands, scores[s]):>9.4f}  {agree}"
                  f"   (total {total[s]:.1f} s)")
        print()

    if args.profile and "cranfield" in sets:
        flat = [(dataset.queries[q], t) for q in qids for t in sets["cranfield"][q]][: args.profile]
        print(f"== profile: {len(flat)} Cranfield pairs per backend (where the compute goes)")
        for s, eng in engines.items():
            if s.startswith("cascade"):
                continue  # its two parts are profiled under their own names
            prof = (profile_torch if s.startswith("torch") else profile_openvino if s.startswith("openvino")
                    else profile_onnx)(eng, flat)
            print(f"rerankft {s:<13} {prof}")


if __name__ == "__main__":
    main()
