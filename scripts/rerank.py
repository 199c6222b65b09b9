"""Rerank a first stage that lives elsewhere: a TREC run file or a JSONL of {query, documents}.

    python scripts/rerank.py input=candidates.jsonl reranker=outputs/train/<run>
    python scripts/rerank.py input=bm25.trec data=beir_local data.path=../shared/data/cranfield reranker=<model>

Writes reranked.trec (and reranked.jsonl for JSONL input) plus rerank.json into the run directory.
"""

import sys

import hydra

from rerankft.cli import prepare_argv, run_main


@hydra.main(version_base="1.3", config_path="../configs", config_name="rerank_file")
def main(cfg):
    from rerankft.pipeline import rerank_file

    run_main(rerank_file, cfg)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # an uncreatable hydra.run.dir: one line, exit 2
    main()
