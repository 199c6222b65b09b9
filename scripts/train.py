"""Mine hard negatives, fine-tune a cross-encoder, benchmark base vs tuned.

    python scripts/train.py                                   # bundled demo
    python scripts/train.py data=beir_local data.path=../shared/data/cranfield
    python scripts/train.py model.name=cross-encoder/ms-marco-MiniLM-L-6-v2 loss=lambda
    python scripts/train.py ... train.resume=outputs/train/<stamp>   # continue a killed run in place
    accelerate launch --cpu --num_processes 2 scripts/train.py ...   # data-parallel, one run directory
"""

import sys

import hydra

from rerankft.cli import prepare_argv, run_main


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg):
    from rerankft.pipeline import train

    return run_main(train, cfg)  # returns dev nDCG@10, the value sweepers optimise


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # resume / multi-process: pin one run directory for every rank
    main()
