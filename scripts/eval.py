"""Benchmark first stages and rerankers on a test split.

    python scripts/eval.py data=beir_local data.path=../shared/data/cranfield rerankers=[base]
    python scripts/eval.py rerankers=[base,tuned] tuned=outputs/train/<run>
"""

import sys

import hydra

from rerankft.cli import prepare_argv, run_main


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def main(cfg):
    from rerankft.pipeline import evaluate

    return run_main(evaluate, cfg)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # an uncreatable hydra.run.dir: one line, exit 2
    main()
