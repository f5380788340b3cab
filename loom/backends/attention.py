"""Attention for n branches that share one prompt: each decode step reads the
prompt's keys and values once for all the branches, not once per branch.

With n = 8 branches after a 448-token prompt, attention read 8 copies of the
prompt's cache on every step (about a third of a step on the CPU). Here the
branches' queries meet the prompt's one copy in a single product, then their
own generated tokens, and the two parts are combined as one softmax (the
log-sum-exp split of FlashAttention and Hydragen). The sum runs in another
order than in one pass, so results differ from it in the last bits only.

It is an attention function registered with transformers under its own name;
a step whose keys carry no shared prompt (prefill, any other call) goes to
transformers' own SDPA unchanged. The local backend turns it on for a model
only after checking, on the model itself, that it gives the same logits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

NAME = "loom_shared_prompt"
#: the attribute of a keys tensor that holds the shared prompt's (keys, values), batch 1
PREFIX = "_loom_prompt"


def shared_prompt_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    prefix = getattr(key, PREFIX, None)
    if prefix is None or query.shape[2] != 1 or kwargs.get("softcap") is not None:
        if prefix is not None:  # not a decode step: the whole keys, as one pass would see them
            key, value = _whole(prefix, key, value)
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    pk, pv = prefix  # (1, kv heads, P, d)
    n, heads, _, d = query.shape
    kv_heads, length = pk.shape[1], pk.shape[2]
    groups = heads // kv_heads  # query head j reads key head j // groups (as repeat_kv lays them out)
    scale = scaling if scaling is not None else d**-0.5
    q = query.reshape(n, kv_heads, groups, d)
    # the prompt: every branch's queries against its one copy, (kv heads, n * groups, P)
    sp = (q.transpose(0, 1).reshape(kv_heads, n * groups, d) @ pk[0].transpose(-1, -2)).float() * scale
    sp = sp.view(kv_heads, n, groups, length).transpose(0, 1)  # (n, kv heads, groups, P)
    ss = (q @ key.transpose(-1, -2)).float() * scale  # the branch's own tokens: (n, kv heads, groups, S)
    if attention_mask is not None:
        mp, ms = attention_mask[..., :length], attention_mask[..., length:]
        if attention_mask.dtype == torch.bool:
            sp, ss = sp.masked_fill(~mp, float("-inf")), ss.masked_fill(~ms, float("-inf"))
        else:
            sp, ss = sp + mp, ss + ms
    top = torch.maximum(sp.amax(-1, keepdim=True), ss.amax(-1, keepdim=True))
    ep, es = (sp - top).exp(), (ss - top).exp()
    total = ep.sum(-1, keepdim=True) + es.sum(-1, keepdim=True)
    op = ep.transpose(0, 1).reshape(kv_heads, n * groups, length).to(pv.dtype) @ pv[0]
    op = op.view(kv_heads, n, groups, d).transpose(0, 1)
    out = (op.float() + (es.to(value.dtype) @ value).float()) / total
    return out.to(query.dtype).reshape(n, heads, 1, d).transpose(1, 2).contiguous(), None


def _whole(
    prefix: tuple[torch.Tensor, torch.Tensor], key: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    pk, pv = prefix
    n = key.shape[0]
    return (
        torch.cat([pk.expand(n, *pk.shape[1:]), key], dim=-2),
        torch.cat([pv.expand(n, *pv.shape[1:]), value], dim=-2),
    )


def register() -> bool:
    """Make the function known to transformers under NAME (with SDPA's masks); False where it cannot be."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(NAME, shared_prompt_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return True
