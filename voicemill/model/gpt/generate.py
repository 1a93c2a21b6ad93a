"""Autoregressive semantic-token generation with a preallocated KV cache."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from voicemill.model.gpt.layers import KVCache
from voicemill.model.gpt.model import Text2SemanticModel
from voicemill.model.gpt.sampling import logits_to_probs, sample


@torch.inference_mode()
def generate(
    model: Text2SemanticModel,
    phone_ids: torch.Tensor,
    phone_lens: torch.Tensor,
    bert: torch.Tensor,
    prompt_semantic: torch.Tensor | None,
    *,
    top_k: int = 15,
    top_p: float = 1.0,
    temperature: float = 1.0,
    repetition_penalty: float = 1.35,
    max_new_tokens: int = 1500,
    min_new_tokens: int = 11,
    seed: int | Sequence[int] = 0,
) -> list[torch.Tensor]:
    """Sample semantic tokens for each row; returns one 1-D LongTensor per row (no EOS).

    phone_ids [B, Tx] right-padded with phone_lens [B] (prompt phones followed by target
    phones), bert [B, 1024, Tx], prompt_semantic [B, Tp] shared length, or None for
    reference-free decoding. EOS is forbidden for the first ``min_new_tokens`` steps; a row
    stops when its sample or its argmax is EOS (that step's token is dropped) or after
    ``max_new_tokens`` tokens (1500 = 60 s; this subsumes upstream's ``early_stop_num``).
    Finished rows leave the batch and the cache. ``seed`` int gives row i the seed
    ``seed + i``; a sequence gives each row its own, so a row's output equals what it gets
    when decoded alone with the same seed.
    """
    if model.training:
        raise ValueError("generate() needs model.eval(): dropout would make it random")
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be at least 1")
    cfg = model.config
    b, tx = phone_ids.shape
    device = phone_ids.device
    seeds = [seed + i for i in range(b)] if isinstance(seed, int) else list(seed)
    if len(seeds) != b:
        raise ValueError(f"got {len(seeds)} seeds for {b} rows")
    if prompt_semantic is None:
        prompt_semantic = phone_ids.new_zeros((b, 0))
    tp = prompt_semantic.shape[1]

    cache = KVCache.allocate(
        cfg.n_layers,
        b,
        cfg.n_heads,
        tx + tp + max_new_tokens,
        cfg.hidden_dim // cfg.n_heads,
        dtype=torch.float32,  # attention and sampling stay fp32 whatever the weights are
        device=device,
    )
    key_mask = torch.ones(b, tx + tp + max_new_tokens, dtype=torch.bool, device=device)
    key_mask[:, :tx] = torch.arange(tx, device=device) < phone_lens[:, None]  # text padding
    history = phone_ids.new_zeros((b, tp + max_new_tokens))  # [B, Tp+N] prompt + sampled
    history[:, :tp] = prompt_semantic
    prompt_lens = torch.full((b,), tp, device=device)
    logits = model.predict(phone_ids, phone_lens, bert, prompt_semantic, prompt_lens, cache)
    logits = logits[:, tp].float()  # [B, V] for the first new token

    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    rows = list(range(b))  # original index of each row still decoding
    outputs: dict[int, torch.Tensor] = {}
    for step in range(max_new_tokens):
        if step < min_new_tokens:
            logits[:, cfg.eos] = float("-inf")
        probs = logits_to_probs(
            logits,
            history[:, : tp + step],
            top_k=top_k,
            top_p=top_p,
            temperature=temperature,
            repetition_penalty=repetition_penalty,
        )
        tokens = sample(probs, [generators[r] for r in rows])  # [B']
        history[:, tp + step] = tokens
        done = (tokens == cfg.eos) | (logits.argmax(-1) == cfg.eos)
        if step == max_new_tokens - 1:  # out of budget: keep this token unless it ends
            for i, r in enumerate(rows):
                outputs[r] = history[i, tp : tp + step + int(not done[i])]
            break
        if done.any():
            for i in done.nonzero()[:, 0].tolist():
                outputs[rows[i]] = history[i, tp : tp + step]
            keep = (~done).nonzero()[:, 0]
            rows = [rows[i] for i in keep.tolist()]
            if not rows:
                break
            history, key_mask, tokens = history[keep], key_mask[keep], tokens[keep]
            cache.select(keep)
        logits = model.decode_step(tokens, tp + step, key_mask, cache).float()
    return [outputs[r].clone() for r in range(b)]
