"""The s1 text-to-semantic GPT (`Text2SemanticDecoder` in the official code).

One sequence per sample: ``[text (phone embedding + projected BERT), semantic tokens]``.
Text attends bidirectionally to text only; semantic tokens attend to all text and causally
to earlier semantic tokens. Batches are right-padded in both streams and every padded
position is masked out as a key, so a sample's result does not depend on its batch mates
(upstream masks the wrong side of the text; we do not reproduce that).

The module tree carries no ``model.`` prefix: `state_dict()` names equal the official
ones minus that prefix, which `voicemill.model.gpt.checkpoint` adds and strips.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from voicemill.model.gpt.config import GPTConfig
from voicemill.model.gpt.layers import (
    KVCache,
    RowKVCache,
    SinePositionalEncoding,
    TokenEmbedding,
    TransformerStack,
)

IGNORE = -100  # target id excluded from the loss


class TrainOutput(NamedTuple):
    loss: torch.Tensor  # [] summed cross-entropy over every valid target
    logits: torch.Tensor  # [B, Ty+1, V]; row j predicts targets[:, j]
    targets: torch.Tensor  # [B, Ty+1]: semantic then EOS, IGNORE past it
    accuracy: torch.Tensor  # [] top-1 accuracy over valid targets


def attention_mask(
    phone_lens: torch.Tensor, tx: int, semantic_lens: torch.Tensor, ty: int
) -> torch.Tensor:
    """Boolean mask [B, 1, Tx+Ty, Tx+Ty], True = may attend, for right-padded streams.

    Padded keys are hidden from every query; padded queries still see the valid text,
    so no softmax row is empty.
    """
    idx = torch.arange(tx + ty, device=phone_lens.device)
    text_key = idx < tx  # [S]
    causal = idx[None, :] <= idx[:, None]  # [S, S]
    allowed = text_key[None, :] | (~text_key[:, None] & causal)  # text->text, audio->all
    key_valid = torch.where(
        text_key, idx < phone_lens[:, None], (idx - tx) < semantic_lens[:, None]
    )  # [B, S]
    return (allowed[None] & key_valid[:, None, :]).unsqueeze(1)


class Text2SemanticModel(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.hidden_dim
        self.bert_proj = nn.Linear(config.bert_dim, dim)
        self.ar_text_embedding = TokenEmbedding(config.phoneme_vocab_size, dim)
        self.ar_text_position = SinePositionalEncoding(dim, config.dropout)
        self.ar_audio_embedding = TokenEmbedding(config.vocab_size, dim)
        self.ar_audio_position = SinePositionalEncoding(dim, config.dropout)
        self.h = TransformerStack(
            config.n_layers, dim, config.n_heads, config.ffn_dim, config.dropout
        )
        self.ar_predict_layer = nn.Linear(dim, config.vocab_size, bias=False)

    def embed_text(self, phone_ids: torch.Tensor, bert: torch.Tensor) -> torch.Tensor:
        """phone_ids [B, Tx], bert [B, 1024, Tx] (phone-aligned) -> [B, Tx, C]."""
        bert = bert.transpose(1, 2).to(self.bert_proj.weight.dtype)  # [B, Tx, 1024]
        x = self.ar_text_embedding(phone_ids) + self.bert_proj(bert)
        return self.ar_text_position(x)

    def embed_audio(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """tokens [B, T] at audio positions start.. -> [B, T, C]."""
        return self.ar_audio_position(self.ar_audio_embedding(tokens), start)

    def predict(
        self,
        phone_ids: torch.Tensor,
        phone_lens: torch.Tensor,
        bert: torch.Tensor,
        semantic: torch.Tensor,
        semantic_lens: torch.Tensor,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Teacher-forced next-token logits [B, Ty+1, V].

        Row 0 comes from the last valid text position and predicts ``semantic[:, 0]``; row
        j comes from semantic position j-1 and predicts ``semantic[:, j]`` (or EOS at j =
        length). With a cache, the keys/values of the whole sequence are stored in it.
        """
        tx, ty = phone_ids.shape[1], semantic.shape[1]
        xy = torch.cat([self.embed_text(phone_ids, bert), self.embed_audio(semantic)], dim=1)
        mask = attention_mask(phone_lens, tx, semantic_lens, ty)
        h = self.h(xy, mask, cache)  # [B, Tx+Ty, C]
        last_text = h[torch.arange(h.shape[0], device=h.device), phone_lens - 1]  # [B, C]
        return self.ar_predict_layer(torch.cat([last_text[:, None], h[:, tx:]], dim=1))

    def forward(
        self,
        phone_ids: torch.Tensor,
        phone_lens: torch.Tensor,
        bert: torch.Tensor,
        semantic: torch.Tensor,
        semantic_lens: torch.Tensor,
    ) -> TrainOutput:
        """Summed cross-entropy of ``semantic`` followed by EOS, given the text.

        phone_ids [B, Tx], phone_lens [B], bert [B, 1024, Tx], semantic [B, Ty],
        semantic_lens [B]; both streams right-padded (pad values are never read).
        """
        logits = self.predict(phone_ids, phone_lens, bert, semantic, semantic_lens)
        ty = semantic.shape[1]
        positions = torch.arange(ty + 1, device=semantic.device)
        padded = F.pad(semantic, (0, 1))  # [B, Ty+1]
        targets = torch.where(positions < semantic_lens[:, None], padded, IGNORE)
        targets = torch.where(positions == semantic_lens[:, None], self.config.eos, targets)
        loss = F.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="sum"
        )
        valid = targets != IGNORE
        accuracy = (logits.argmax(-1) == targets)[valid].float().mean()
        return TrainOutput(loss, logits, targets, accuracy)

    def decode_step(
        self, tokens: torch.Tensor, position: int, key_mask: torch.Tensor, cache: KVCache
    ) -> torch.Tensor:
        """One cached step: tokens [B] at audio ``position``; key_mask [B, S_max] -> [B, V]."""
        x = self.embed_audio(tokens[:, None], position)  # [B, 1, C]
        return self._step(x, key_mask[:, None, None, : cache.length + 1], cache)

    def decode_rows(
        self, tokens: torch.Tensor, positions: torch.Tensor, cache: RowKVCache
    ) -> torch.Tensor:
        """One step where every row is at its own point (continuous batching) -> [B, V].

        tokens [B] at audio positions [B]; row b's K/V go to slot ``cache.lengths[b]`` and
        it attends to its slots up to that one. Each row's logits equal `decode_step`'s
        for that row alone, up to float rounding of the batched matmuls.
        """
        x = self.ar_audio_position.at(self.ar_audio_embedding(tokens[:, None]), positions)
        slots = torch.arange(cache.span, device=x.device)
        allowed = slots[None, :] <= cache.lengths[:, None]  # [B, S]: own slots + this step's
        return self._step(x, allowed[:, None, None, :], cache)

    def _step(
        self, x: torch.Tensor, allowed: torch.Tensor, cache: KVCache | RowKVCache
    ) -> torch.Tensor:
        """x [B, 1, C], allowed [B, 1, 1, S] bool -> logits [B, V]."""
        # One additive mask for all layers: SDPA would convert a boolean one per layer.
        mask = torch.zeros(allowed.shape, dtype=cache.keys[0].dtype, device=x.device)
        mask.masked_fill_(~allowed, float("-inf"))
        return self.ar_predict_layer(self.h(x, mask, cache)[:, 0])
