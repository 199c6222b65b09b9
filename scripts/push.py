"""Push the tuned model of a finished train run to the Hugging Face Hub (or write the upload folder).

    python scripts/push.py run_dir=outputs/train/<run> hub.repo_id=<user>/<model-name>
    python scripts/push.py run_dir=outputs/train/<run> hub.dry_run=true      # <run>/hub_upload, no upload
"""

import sys

import hydra

from rerankft.cli import prepare_argv, run_main


@hydra.main(version_base="1.3", config_path="../configs", config_name="push")
def main(cfg):
    from rerankft.pipeline import push

    run_main(push, cfg)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # an uncreatable hydra.run.dir: one line, exit 2
    main()
