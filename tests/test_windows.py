"""Long passages: window edges and stride, aggregation, the score cache, short passages, a huge passage."""

from __future__ import annotations

import numpy as np
import pytest

from rerankft.core.errors import ConfigError
from rerankft.scoring.windows import WindowPlan, Windowing, plan_windows, window_spans, word_starts
from tests.rerank_fixtures import MAX_LENGTH, TOPICS, random_head_model_dir

WORDS = "one two three four five six seven eight nine ten".split()  # one WordPiece token each


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from rerankft.modeling.names import packaged_minilm_path

    return AutoTokenizer.from_pretrained(packaged_minilm_path())


@pytest.fixture(scope="module")
def model_dir():
    return random_head_model_dir()


def test_spans_cover_the_passage_with_the_stride():
    starts = np.ones(50, dtype=bool)
    assert window_spans(starts, 16, 8) == [(0, 16), (8, 24), (16, 32), (24, 40), (32, 48), (40, 50)]
    assert window_spans(starts, 16, 16) == [(0, 16), (16, 32), (32, 48), (48, 50)]
    assert window_spans(starts[:16], 16, 8) == [(0, 16)]  # fits: one window


def test_spans_snap_to_word_starts():
    # Words of 3 tokens (start, piece, piece): windows never begin or end inside a word.
    starts = np.array([i % 3 == 0 for i in range(30)])
    spans = window_spans(starts, 10, 5)
    assert spans[0] == (0, 9)  # 10 would cut the 4th word: end at its start
    for a, b in spans:
        assert starts[a] and (b == 30 or starts[b])
        assert b - a <= 10
    assert spans[-1][1] == 30
    # A "word" longer than the window is cut (progress is guaranteed).
    assert window_spans(np.array([True] + [False] * 24), 10, 5) == [(0, 10), (5, 15), (10, 20), (15, 25)]


def test_windows_of_a_hand_made_passage(tokenizer):
    passage = " ".join(WORDS[i % 10] for i in range(50))
    query = "seven"  # 1 token: with 3 special tokens a 20-token pair leaves 16 passage tokens
    plan = plan_windows(tokenizer, [(query, passage)], Windowing("maxp", None, 8), max_length=20)
    texts = [t for _, t in plan.pairs]
    words = passage.split()
    assert texts == [" ".join(words[a:b]) for a, b in [(0, 16), (8, 24), (16, 32), (24, 40), (32, 48), (40, 50)]]
    assert all(q == query for q, _ in plan.pairs)  # the query is repeated in every window
    assert plan.first.tolist() == [0, 6] and plan.windowed == 1 and plan.windows_of_windowed == 6
    # Each window re-tokenizes to exactly its span: the window is what the model reads, no cut.
    assert [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts] == [16, 16, 16, 16, 16, 10]
    # firstp keeps the first window only; an explicit window smaller than the fill wins.
    assert [t for _, t in plan_windows(tokenizer, [(query, passage)], Windowing("firstp"), 20).pairs] == [texts[0]]
    small = plan_windows(tokenizer, [(query, passage)], Windowing("maxp", 16, 16), 64)
    assert len(small.pairs) == 4
    # auto: a passage of up to AUTO_MAXP_BEYOND (4) windows is read as truncate reads it (the pair as given),
    # a longer one as windows.
    medium, longer = (" ".join(WORDS[i % 10] for i in range(n)) for n in (64, 70))
    auto = plan_windows(tokenizer, [(query, medium), (query, longer)], Windowing("auto", None, 8), max_length=20)
    assert auto.pairs[0] == (query, medium) and len(auto.pairs) == 1 + 8
    assert auto.first.tolist() == [0, 1, 9] and auto.windowed == 1


def test_word_starts_follow_wordpiece(tokenizer):
    text = "unbelievably, aerodynamics"
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    toks = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    starts = word_starts(enc["offset_mapping"], text)
    assert [not t.startswith("##") for t in toks] == starts.tolist()


def test_aggregation_math():
    plan = WindowPlan(pairs=[("q", str(i)) for i in range(6)], first=np.array([0, 1, 4, 6]), windowed=2, windows_of_windowed=5)
    scores = np.array([[0.5], [0.1], [0.9], [0.3], [-1.0], [2.0]], dtype=np.float32)
    assert plan.aggregate(scores, "maxp")[:, 0].tolist() == pytest.approx([0.5, 0.9, 2.0])
    assert plan.aggregate(scores, "auto")[:, 0].tolist() == pytest.approx([0.5, 0.9, 2.0])
    assert plan.aggregate(scores, "sump")[:, 0].tolist() == pytest.approx([0.5, 1.3, 1.0])
    assert plan.aggregate(scores, "firstp")[:, 0].tolist() == pytest.approx([0.5, 0.1, -1.0])
    assert plan.aggregate(scores, "truncate")[:, 0].tolist() == pytest.approx([0.5, 0.1, -1.0])


def test_bad_settings_name_their_key():
    with pytest.raises(ConfigError, match="rerank.long_docs='max'"):
        Windowing("max")
    with pytest.raises(ConfigError, match="rerank.window"):
        Windowing("maxp", window=4)
    with pytest.raises(ConfigError, match="rerank.stride=64 is larger"):
        Windowing("maxp", window=32, stride=64)


def _long_passage(relevant: str, filler_topics: list[int], at: int) -> str:
    fill = [TOPICS[i][1] for i in filler_topics]
    return " ".join(fill[:at] + [relevant] + fill[at:])


def test_a_relevant_sentence_past_the_cut_counts_with_maxp(model_dir):
    from rerankft.scoring.reranker import Reranker

    from tests.rerank_fixtures import tuned_segment_cosine_model_dir

    query, relevant = TOPICS[0]
    late = _long_passage(relevant, [3, 4, 5, 6, 7, 8], at=6)  # the answer after ~130 tokens of other topics
    other = _long_passage(TOPICS[9][1], [3, 4, 5, 6, 7, 8], at=6)
    model = tuned_segment_cosine_model_dir()  # the default head, tuned on these topics
    trunc = Reranker(model, max_length=MAX_LENGTH).score([(query, late), (query, other)])
    maxp = Reranker(model, max_length=MAX_LENGTH, long_docs="maxp")
    s = maxp.score([(query, late), (query, other)])
    assert trunc[0] == pytest.approx(trunc[1], abs=1e-4)  # both cut before their last sentence: same first 64 tokens
    assert s[0] > s[1] + 1.0  # maxp reads the relevant sentence at the end (scores: a scaled cosine, ~[-20, 20])
    assert maxp.stats["windowed_passages"] == 2 and maxp.stats["windows"] >= 6
    # The two passages' shared filler windows are the same pairs: scored once.
    assert maxp.stats["pairs"] == 2 and 0 < maxp.stats["scored"] < maxp.stats["windows"]


def test_short_passages_score_exactly_as_truncate(model_dir):
    from rerankft.scoring.reranker import Reranker

    pairs = [(q, p) for q, p in TOPICS[:6]]
    want = Reranker(model_dir, max_length=MAX_LENGTH).score(pairs)
    for mode in ("firstp", "maxp", "sump", "auto"):
        engine = Reranker(model_dir, max_length=MAX_LENGTH, long_docs=mode)
        np.testing.assert_array_equal(engine.score(pairs), want)
        assert engine.stats["windowed_passages"] == 0 and engine.stats["scored"] == len(pairs)


def test_score_cache_shares_windows_and_keeps_modes_apart(tmp_path, model_dir):
    from rerankft.scoring.reranker import Reranker

    query = TOPICS[0][0]
    long = _long_passage(TOPICS[0][1], [3, 4, 5, 6, 7], at=5)
    short = TOPICS[1][1]
    pairs = [(query, long), (query, short)]
    fresh = {m: Reranker(model_dir, max_length=MAX_LENGTH, long_docs=m).score(pairs) for m in ("truncate", "maxp", "sump")}
    assert fresh["sump"][0] != pytest.approx(fresh["truncate"][0], abs=1e-3)  # several windows, not the cut pair

    cache = tmp_path / "cache"
    trunc = Reranker(model_dir, max_length=MAX_LENGTH, cache_dir=cache)
    np.testing.assert_allclose(trunc.score(pairs), fresh["truncate"], atol=1e-6)
    trunc.close()
    # Same cache, other modes: the long passage's truncate score is never served as its maxp/sump
    # score; the short passage (one window = the same pair) comes from the cache.
    for mode in ("maxp", "sump"):
        engine = Reranker(model_dir, max_length=MAX_LENGTH, cache_dir=cache, long_docs=mode)
        np.testing.assert_allclose(engine.score(pairs), fresh[mode], atol=1e-6)
        assert engine.stats["cache_hits"] >= 1
        again = engine.score(pairs)  # every window now cached: nothing scored the second time
        np.testing.assert_allclose(again, fresh[mode], atol=1e-6)
        engine.close()
    assert engine.stats["scored"] == 0  # sump reused every window maxp scored


def test_a_50000_word_passage_in_bounded_memory(model_dir):
    """Windows are scored in ordinary token-budgeted batches: memory does not grow with the passage's square."""
    from rerankft.scoring.reranker import Reranker

    passage = " ".join(WORDS[i % 10] for i in range(50_000))
    engine = Reranker(model_dir, max_length=MAX_LENGTH, long_docs="maxp", window=48, stride=48, batch_tokens=4096)
    peak_before = _reset_peak_rss()
    s = engine.score([("seven eight", passage), ("seven eight", "seven eight nine")])
    growth = _peak_rss() - peak_before if peak_before is not None else 0
    assert np.isfinite(s).all()
    assert engine.stats["windows"] == -(-50_000 // 48)  # one window per 48 tokens, no gaps
    # Full attention over 50,000 tokens would need tens of GB; windows need about one batch.
    assert growth < 1_000_000_000, f"peak RSS grew by {growth / 1e6:.0f} MB"


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> int | None:
    """Reset the kernel's peak-RSS mark (Linux: write 5 to clear_refs); None where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _peak_rss()
    except OSError:
        return None


def test_training_rows_read_the_window_the_model_rates_highest():
    """train.long_docs=best_window: a long passage in any loss format becomes its best window; short ones stay."""
    import datasets
    from sentence_transformers import CrossEncoder

    from rerankft.training.windows import best_windows
    from tests.rerank_fixtures import tuned_segment_cosine_model_dir

    model = CrossEncoder(str(tuned_segment_cosine_model_dir()), trust_remote_code=True, device="cpu")
    query, relevant = TOPICS[0]
    late = _long_passage(relevant, [3, 4, 5, 6, 7, 8], at=6)
    short = TOPICS[1][1]
    rows = datasets.Dataset.from_dict({"query": [query, query], "passage": [late, short], "label": [1.0, 0.0]})
    out, stats = best_windows(rows, model, MAX_LENGTH, Windowing("maxp"))
    assert relevant.split(",")[0] in out[0]["passage"] and len(out[0]["passage"]) < len(late)
    assert out[1]["passage"] == short and out["label"] == [1.0, 0.0]
    assert stats["windowed_passages"] == 1 and stats["windows"] >= 3
    lists = datasets.Dataset.from_dict({"query": [query], "docs": [[late, short]], "labels": [[1.0, 0.0]]})
    out_lists, _ = best_windows(lists, model, MAX_LENGTH, Windowing("maxp"))
    assert out_lists[0]["docs"] == [out[0]["passage"], short]
    # The BM25 picker (the default: no model pass) finds the window with the query's words too.
    out_bm25, stats = best_windows(rows, model, MAX_LENGTH, Windowing("maxp"), picker="bm25")
    assert "wings generate lift" in out_bm25[0]["passage"] and stats["picker"] == "bm25"


def test_config_checks_name_the_key():
    from omegaconf import OmegaConf

    from rerankft.config import validate_config

    with pytest.raises(ConfigError, match="rerank.long_docs='maxP'"):
        validate_config(OmegaConf.create({"rerank": {"long_docs": "maxP", "window": None, "stride": None}}))
    with pytest.raises(ConfigError, match="rerank.window must be an integer"):
        validate_config(OmegaConf.create({"rerank": {"long_docs": "maxp", "window": "big", "stride": None}}))
    with pytest.raises(ConfigError, match="train.long_docs='maxp' is not one of: truncate, best_window"):
        validate_config(OmegaConf.create({"train": {"long_docs": "maxp"}}))
    with pytest.raises(ConfigError, match="train.window_picker='dense'"):
        validate_config(OmegaConf.create({"train": {"long_docs": "best_window", "window_picker": "dense"}}))
