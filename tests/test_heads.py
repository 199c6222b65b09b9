"""The segment_cosine head's saved folder is portable: it loads and scores the same without rerankft."""

import json
import subprocess
import sys

import numpy as np

from tests.rerank_fixtures import (
    TOPICS,
    tuned_model_dir,
    tuned_segment_cosine_model_dir,
)

PAIRS = [(q, p) for q, p in TOPICS[:3]] + [(TOPICS[0][0], TOPICS[4][1])]

# Runs in a fresh interpreter where `import rerankft` fails: only the folder's own file can help.
PROBE = """
import json, sys
sys.modules["rerankft"] = None
import torch
from sentence_transformers import CrossEncoder
from transformers import AutoModelForSequenceClassification, AutoTokenizer
path, pairs = sys.argv[1], json.loads(sys.argv[2])
st = CrossEncoder(path, trust_remote_code=True).predict(pairs).tolist()
model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True).eval()
tok = AutoTokenizer.from_pretrained(path)
enc = tok([q for q, _ in pairs], [p for _, p in pairs], padding=True, truncation=True, max_length=64, return_tensors="pt")
with torch.no_grad():
    hf = model(**enc).logits.squeeze(-1).tolist()
print(json.dumps({"st": st, "hf": hf}))
"""


def test_segment_cosine_folder_loads_without_rerankft_and_scores_the_same():
    from rerankft import Reranker

    path = tuned_segment_cosine_model_dir()
    modules = json.loads(open(f"{path}/modules.json").read())
    assert modules[-1]["type"] == "modeling_rerankft.SegmentCosineScore"
    config = json.loads(open(f"{path}/config.json").read())
    assert config["auto_map"]["AutoModelForSequenceClassification"].startswith("modeling_rerankft.")
    want = Reranker(path).score(PAIRS)
    out = subprocess.run([sys.executable, "-c", PROBE, path, json.dumps(PAIRS)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert np.abs(np.array(got["st"]) - want).max() < 1e-4
    assert np.abs(np.array(got["hf"]) - want).max() < 1e-4
    assert want[0] > want[3]  # the relevant passage outranks another topic's


def test_make_portable_leaves_other_heads_alone(tmp_path):
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.heads import make_portable

    path = tuned_model_dir()
    assert make_portable(tmp_path, CrossEncoder(path)) is False
    assert not list(tmp_path.iterdir())
