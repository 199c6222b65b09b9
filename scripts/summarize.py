"""Write summary.md and summary.csv for a finished (or interrupted) sweep.

    python scripts/summarize.py outputs/train-sweep/2026-01-01_12-00-00

A multirun writes the summary by itself when it ends; use this after an interrupted sweep,
or to refresh it. One row per run directory; the best run is picked by dev nDCG@10.
"""

import argparse
import logging
import sys

from rerankft.core.errors import RerankftError
from rerankft.publish.sweep import write_summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="the multirun directory (e.g. outputs/train-sweep/<time>)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        s = write_summary(args.sweep_dir)
    except RerankftError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(s.md_path.read_text(encoding="utf-8"))
    print(f"wrote {s.md_path} and {s.csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
