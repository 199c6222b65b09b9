"""``train.fast_dropout``: the same dropout, its masks drawn more cheaply on a CPU.

Why our own: torch draws a dropout mask with ``aten::bernoulli_``. On a 2-core Intel Xeon, one
attention-probability tensor of a training batch (20 x 12 x 128 x 128) took 47 ms in ``F.dropout``
against 13 ms for ``torch.rand`` and a comparison, and dropout was a third of a training step
(1,222 ms against 805 ms without it; ``benchmarks/bench_train_step.py``); with these masks the step
took 1,107 ms. Here each element is kept where ``rand >= p`` and scaled by
1/(1-p): kept with probability 1-p, independently, as torch keeps it, so the distribution is the
same and only the draws differ (a run's figures move as they would with another seed).

Two places draw masks. The encoder's ``nn.Dropout`` modules take this module's forward for the
block. The attention-probability dropout happens inside transformers' SDPA call, out of reach of a
module, so the encoder's attention is routed through an attention function registered here: while
training with dropout it computes the same attention eagerly with this mask; otherwise (eval, dev
scoring, dropout 0) it hands the call to SDPA unchanged. Only SDPA attention is rerouted (the CPU
default); other implementations keep torch's masks in attention. Nothing reaches a saved folder:
transformers does not write ``_attn_implementation`` to ``config.json``, and the block restores the
modules and the configs.
"""

from __future__ import annotations

import contextlib
import logging

import torch

log = logging.getLogger("rerankft")

ATTENTION = "rerankft_fast_dropout"  # the registered name; stands in for "sdpa" inside the block


def keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """Bernoulli(1-p) keep mask scaled by 1/(1-p), drawn as ``rand >= p`` (``rand`` is uniform on [0, 1))."""
    return torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))  # in place: one tensor, not a bool and a copy


class _Dropout(torch.nn.Dropout):
    """``nn.Dropout`` with :func:`keep_mask`; a module's class is swapped to it inside the block."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * keep_mask(x, self.p)


def _attention(module, query, key, value, attention_mask, scaling=None, dropout: float = 0.0, **kwargs):
    """SDPA's attention with the probability dropout drawn by :func:`keep_mask`; SDPA itself where there
    is no dropout to draw or where the call needs what only SDPA handles (grouped keys, causal masks)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not dropout or key.shape[1] != query.shape[1] or kwargs.get("is_causal") or getattr(module, "is_causal", False):
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    weights = torch.matmul(query, key.transpose(2, 3)) * (query.size(-1) ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:  # SDPA's masks: boolean (True attends) or additive
        mask = attention_mask[:, :, :, : key.shape[-2]]
        weights = weights.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else weights + mask
    weights = torch.softmax(weights, dim=-1)
    output = torch.matmul(weights * keep_mask(weights, dropout), value)
    return output.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import (
        ALL_MASK_ATTENTION_FUNCTIONS,
        AttentionMaskInterface,
    )

    AttentionInterface.register(ATTENTION, _attention)
    AttentionMaskInterface.register(ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])  # 2-D masks made as for SDPA


@contextlib.contextmanager
def fast_dropout(model, on: bool):
    """Inside the block, ``model``'s dropout draws its masks with :func:`keep_mask` (``on`` false: unchanged).
    A CPU setting: on a GPU torch's dropout is a fused kernel and SDPA's fused attention is faster than
    the eager one, so a model whose weights are elsewhere is left as it is (and the log says so)."""
    if not on:
        yield
        return
    where = next(model.parameters()).device.type
    if where != "cpu":
        log.info("train.fast_dropout: the model trains on %s, where torch's own dropout is fused; left as it is", where)
        yield
        return
    _register()
    modules = [m for m in model.modules() if type(m) is torch.nn.Dropout]
    configs = [c for c in {id(c): c for c in (getattr(m, "config", None) for m in model.modules())}.values()
               if getattr(c, "_attn_implementation", None) == "sdpa"]
    for m in modules:
        m.__class__ = _Dropout
    for c in configs:
        c._attn_implementation = ATTENTION
    try:
        yield
    finally:
        for m in modules:
            m.__class__ = torch.nn.Dropout
        for c in configs:
            c._attn_implementation = "sdpa"
