"""Distil a shallower student from a train run's tuned model, and benchmark it next to its teacher.

    python scripts/distill.py run_dir=outputs/train/<run> layers=3
"""

import sys

import hydra

from rerankft.cli import prepare_argv, run_main


@hydra.main(version_base="1.3", config_path="../configs", config_name="distill")
def main(cfg):
    from rerankft.pipeline import distill

    run_main(distill, cfg)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # an uncreatable hydra.run.dir: one line, exit 2
    main()
