"""Export the tuned model of a finished train run for another runtime.

    python scripts/export.py run_dir=outputs/train/<run> format=flashrank       # <run>/flashrank/<model_name>/
    python scripts/export.py run_dir=<run> format=flashrank quantize=fp32       # never int8
"""

import sys

import hydra

from rerankft.cli import prepare_argv, run_main


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg):
    from rerankft.publish.flashrank import export_run

    run_main(export_run, cfg)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # an uncreatable hydra.run.dir: one line, exit 2
    main()
