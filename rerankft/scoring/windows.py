"""Long passages: split into overlapping token windows, score each window, aggregate per passage.

A cross-encoder reads ``max_length`` tokens of (query, passage); the rest of a longer passage is cut.
``rerank.long_docs`` chooses what happens instead (Dai and Callan 2019, "Deeper text understanding
for IR with contextual neural language modeling"):

truncate  the passage is cut at the pair's ``max_length`` (what ``CrossEncoder.predict`` does)
firstp    the first window only (truncate at ``window`` tokens instead of the pair's length)
maxp      the best window's score: a relevant sentence anywhere in the passage counts
sump      the sum of the windows' scores (long passages with many matching windows rise)
auto      truncate for passages of up to ``AUTO_MAXP_BEYOND`` windows, maxp beyond: on abstract-length
          passages (Cranfield, CISI) truncate did best on dev, on documents of 1,000-2,000 tokens maxp
          recovered almost all that truncation lost (README, "Long documents")

Windows are passage-token spans of ``window`` tokens (default: whatever the pair's ``max_length``
leaves after the query and the special tokens, so the query is repeated whole in every window, but at
least half of ``max_length``),
starting every ``stride`` tokens (default half a window, as in MaxP's 150-word windows every 75).
Window edges snap back to word starts, so a window's text re-tokenizes to the same tokens and
never begins inside a word. A passage that fits in one window is scored as it is: its pair is
exactly the truncate pair, so its score (and its score-cache entry) is shared with truncate.

Why our own: sentence-transformers' CrossEncoder truncates and has no windowing; the
``rerankers`` library and FlashRank truncate too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rerankft.core.errors import ConfigError

LONG_DOCS = ("truncate", "firstp", "maxp", "sump", "auto")
# auto: passages longer than this many windows are read as windows (maxp), the others truncated. Chosen on dev
# (README, "Long documents"): windowing abstract-length passages cost Cranfield nDCG@10 (maxp -0.021; beyond
# 2 windows -0.006; beyond 4 windows +0.000), windowing 1,000-2,000-token documents won back 96% of the loss.
AUTO_MAXP_BEYOND = 4
MIN_WINDOW = 16  # a query longer than the pair budget still gets windows of this many passage tokens


@dataclass(frozen=True)
class Windowing:
    """The ``rerank.long_docs`` / ``rerank.window`` / ``rerank.stride`` settings (``train.long_docs``: see training)."""

    mode: str = "truncate"
    window: int | None = None  # passage tokens per window; None: fill the pair's max_length
    stride: int | None = None  # tokens between window starts; None: window // 2

    def __post_init__(self):
        check_windowing(self.mode, self.window, self.stride)

    @property
    def active(self) -> bool:
        return self.mode != "truncate"

    def describe(self) -> dict:
        return {"long_docs": self.mode, "window": self.window, "stride": self.stride}


def windowing_kwargs(cfg_rerank) -> dict:
    """``long_docs`` / ``window`` / ``stride`` from a ``rerank:`` block (absent keys: truncate, as before)."""
    get = cfg_rerank.get if hasattr(cfg_rerank, "get") else lambda k, d=None: getattr(cfg_rerank, k, d)
    return {"long_docs": get("long_docs", "truncate") or "truncate", "window": get("window", None), "stride": get("stride", None)}


def check_windowing(mode, window, stride, prefix: str = "rerank") -> None:
    if mode not in LONG_DOCS:
        raise ConfigError(f"{prefix}.long_docs={mode!r} is not one of: {', '.join(LONG_DOCS)}")
    for key, value, least in (("window", window, MIN_WINDOW), ("stride", stride, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise ConfigError(f"{prefix}.{key} must be an integer >= {least} (tokens) or null, got {value!r}")
    if window is not None and stride is not None and stride > window:
        raise ConfigError(f"{prefix}.stride={stride} is larger than {prefix}.window={window}: text between windows would never be read")


def word_starts(offsets: Sequence[tuple[int, int]], text: str) -> np.ndarray:
    """True for tokens that begin a word: the first token, and any token after whitespace or punctuation
    boundaries the tokenizer itself split on (its characters do not touch the previous token's)."""
    starts = np.zeros(len(offsets), dtype=bool)
    prev_end = -1
    for i, (a, b) in enumerate(offsets):
        # WordPiece / BPE continuation pieces start exactly where the previous token ended, and both
        # are letters or digits; a new word leaves a gap (space) or is punctuation.
        starts[i] = i == 0 or a > prev_end or not (text[a - 1 : a].isalnum() and text[a : a + 1].isalnum())
        prev_end = b
    return starts


def window_spans(starts: np.ndarray, window: int, stride: int) -> list[tuple[int, int]]:
    """Token spans [a, b) of at most ``window`` tokens, one starting about every ``stride`` tokens,
    covering all ``len(starts)`` tokens; edges moved back to word starts where one is in reach."""
    n = len(starts)
    if n <= window:
        return [(0, n)]
    word_start = np.flatnonzero(starts)

    def snap(pos: int, lo: int) -> int:
        """The last word start in (lo, pos], else pos (a single word longer than the window is cut)."""
        k = int(np.searchsorted(word_start, pos, side="right")) - 1
        return int(word_start[k]) if k >= 0 and word_start[k] > lo else pos

    spans, a = [], 0
    while True:
        if a + window >= n:
            spans.append((a, n))
            return spans
        b = snap(a + window, a)
        spans.append((a, b))
        a = snap(a + stride, a)


@dataclass
class WindowPlan:
    """The window pairs of a list of (query, passage) pairs: ``pairs[first[i]:first[i + 1]]`` are pair i's."""

    pairs: list[tuple[str, str]]
    first: np.ndarray  # len(input) + 1 offsets into pairs
    windowed: int  # input pairs whose passage is longer than one window
    windows_of_windowed: int  # how many windows of those were read (firstp: 1 each)

    def aggregate(self, scores: np.ndarray, mode: str) -> np.ndarray:
        starts = self.first[:-1]
        if len(starts) == 0:
            return scores[:0]
        if mode in ("truncate", "firstp"):
            return scores[starts]
        if mode in ("maxp", "auto"):
            return np.maximum.reduceat(scores, starts, axis=0)
        if mode == "sump":
            return np.add.reduceat(scores.astype(np.float64), starts, axis=0).astype(np.float32)
        raise ConfigError(f"rerank.long_docs={mode!r} is not one of: {', '.join(LONG_DOCS)}")


def plan_windows(tokenizer, pairs: Sequence[tuple[str, str]], windowing: Windowing, max_length: int) -> WindowPlan:
    """Split each pair's passage into windows that fit ``max_length`` together with its query.

    Every distinct passage is tokenized once (a fast tokenizer's offsets give the windows' text);
    memory grows with the passages' length, never with its square, so a 50,000-word passage is
    a few thousand window pairs scored in ordinary batches.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"rerank.long_docs={windowing.mode} needs a fast (Rust) tokenizer to find window edges; "
                          f"{type(tokenizer).__name__} is not one: use rerank.long_docs=truncate")
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    queries = sorted({q for q, _ in pairs})
    q_len = dict(zip(queries, (len(x) for x in _ids(tokenizer, queries)))) if queries else {}
    passages = sorted({p for _, p in pairs})
    tokens = {}
    for i in range(0, len(passages), 256):  # batched: the Rust tokenizer runs a chunk in parallel
        chunk = passages[i : i + 256]
        enc = tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        for text, offsets in zip(chunk, enc["offset_mapping"]):
            tokens[text] = offsets

    out: list[tuple[str, str]] = []
    first = np.zeros(len(pairs) + 1, dtype=np.int64)
    windowed = windows_of_windowed = 0
    spans_memo: dict[tuple[str, int], tuple[list[str], bool]] = {}
    for i, (q, p) in enumerate(pairs):
        # The window fills what the query leaves of the pair, but never less than half of it: a long query
        # (CISI's run to 100+ tokens) would otherwise cut passages into slivers; its pair is then
        # truncated longest_first, as a truncate pair is, and the query loses its end.
        fill = max(MIN_WINDOW, max_length // 2, max_length - specials - q_len[q])
        window = min(windowing.window or fill, fill)
        stride = min(windowing.stride or max(1, window // 2), window)
        key = (p, window * 100003 + stride)
        if key not in spans_memo:
            offsets = tokens[p]
            if len(offsets) <= window:
                spans_memo[key] = [p], False  # fits: the passage as it is (same pair as truncate, same cached score)
            elif windowing.mode == "auto" and len(offsets) <= AUTO_MAXP_BEYOND * window:
                spans_memo[key] = [p], False  # truncation keeps at least half of it: the truncate pair
            else:
                spans = window_spans(word_starts(offsets, p), window, stride)
                if windowing.mode == "firstp":
                    spans = spans[:1]
                spans_memo[key] = [p[offsets[a][0] : offsets[b - 1][1]] for a, b in spans], True
        texts, is_long = spans_memo[key]
        if is_long:  # longer than one window (firstp reads its first window only)
            windowed += 1
            windows_of_windowed += len(texts)
        out.extend((q, t) for t in texts)
        first[i + 1] = len(out)
    return WindowPlan(out, first, windowed, windows_of_windowed)


def _ids(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
