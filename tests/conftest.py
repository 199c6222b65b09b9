import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RERANKFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared BEIR collections (Cranfield, CISI); tests using them skip when absent."""
    if not (SHARED_DATA / "cranfield" / "corpus.jsonl").is_file():
        pytest.skip(f"shared test collections not found at {SHARED_DATA} (set RERANKFT_SHARED_DATA)")
    return SHARED_DATA


MISSING = "<missing>"


@pytest.fixture
def beir_folder(tmp_path):
    """Write a tiny valid BEIR folder; tests then break one file at a time (MISSING: leave it out)."""

    def make(corpus=None, queries=None, qrels=None, split="test"):
        root = tmp_path / "beir"
        (root / "qrels").mkdir(parents=True, exist_ok=True)
        corpus = corpus if corpus is not None else [
            '{"_id": "d1", "title": "Reset", "text": "Hold the reset button for ten seconds."}',
            '{"_id": "d2", "title": "Backup", "text": "Backups run nightly at 2 am."}',
            '{"_id": "d3", "title": "", "text": "Firmware updates install automatically."}',
        ]
        queries = queries if queries is not None else [
            '{"_id": "q1", "text": "how do I reset the device"}',
            '{"_id": "q2", "text": "when do backups run"}',
        ]
        qrels = qrels if qrels is not None else ["query-id\tcorpus-id\tscore", "q1\td1\t2", "q2\td2\t1", "q2\td3\t0"]
        for name, lines in (("corpus.jsonl", corpus), ("queries.jsonl", queries), (f"qrels/{split}.tsv", qrels)):
            if lines != MISSING:
                p = root / name
                p.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
        return root

    return make
