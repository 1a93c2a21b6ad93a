"""Continuous batching for semantic-token decoding, as LLM servers do it.

`generate` decodes a fixed batch that starts together. A serving worker instead keeps one
`ContinuousDecoder` busy: requests join the running decode at the next `step` and leave
as soon as they finish or are cancelled, each with its own text and prompt lengths (even
another voice's prompt), sampling settings and seed.

Each row keeps its own slot of a preallocated KV cache [max_batch, H, max_len, Dh] and
its own fill length. A new request's prefill runs alone (batch 1, exactly `generate`'s
prefill) straight into its free slot; each step then feeds every row's last token at its
own audio position, scatters its K/V at its own length, and masks every row's attention
to its own filled slots (`Text2SemanticModel.decode_rows`). Sampling and the EOS rules run
per row with the row's settings, its own seeded generator and its own history, so

    fp32: a request's tokens equal `generate()` of that request alone with the same seed,
    whoever shares the batch. (Batched matmuls and attention over the batch's padded
    span round differently from batch 1: logits differ by ~1e-6, which would only move a
    token at a near-exact tie of the sampling race; the tests check token equality.)

With bf16/int8 weights (`apply_gpt_precision`) this does not hold: those last-bit
differences round to different bf16 activations (v2 bf16 logits differ by ~1e-2 after a
few steps), and once a token flips the rest of the sequence differs. Measured:
on the tiny random model the tests' 8-request schedule (and 32 requests through 8 rows)
gave identical tokens in bf16 and int8; on the v2 config with random weights (8 requests
of 40 tokens, batch 8 vs alone) 2/8 (bf16) and 3/8 (int8) sequences were identical, the
others first differing after 3-29 (bf16) / 3-39 (int8) tokens; `generate` with a batch
of 8 differs from its solo runs as much (3/8, 2/8). At batch 1 the decoder equals
`generate` in every precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from voicemill.errors import RejectedInput
from voicemill.model.gpt.layers import KVCache, RowKVCache
from voicemill.model.gpt.model import Text2SemanticModel
from voicemill.model.gpt.sampling import logits_to_probs, sample


@dataclass(frozen=True, eq=False)
class DecodeRequest:
    """One utterance to decode; the fields and defaults of a `generate` row.

    phone_ids [Tx] (prompt phones then target phones), bert [bert_dim, Tx] phone-aligned,
    prompt_semantic [Tp] or None for reference-free decoding.
    """

    phone_ids: torch.Tensor
    bert: torch.Tensor
    prompt_semantic: torch.Tensor | None = None
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    max_new_tokens: int = 1500
    min_new_tokens: int = 11
    seed: int = 0


class StepEvent(NamedTuple):
    """What one step produced for one request.

    ``token`` is None when the row ended on EOS (that step's token is dropped, as in
    `generate`); after a ``finished`` event the handle is gone and its row is free.
    """

    handle: int
    token: int | None
    finished: bool


class DecoderFull(RuntimeError):
    """Every row is busy: queue the request and add it after a row frees."""


@dataclass
class _Row:
    handle: int
    request: DecodeRequest
    generator: torch.Generator
    history: torch.Tensor  # [Tp + max_new_tokens]: prompt then sampled tokens
    tx: int
    tp: int
    logits: torch.Tensor  # [1, V] fp32 for the next token
    step: int = 0  # tokens sampled so far

    @property
    def position(self) -> int:
        """Audio position of the token sampled at ``step`` (its input position)."""
        return self.tp + self.step


class ContinuousDecoder:
    """A running decode over up to ``max_batch`` rows that requests join and leave per step.

    ``max_len`` is the cache slots per row; a request needs Tx + Tp + max_new_tokens of
    them (what `generate` allocates). The cache is fp32 whatever the weights, as in
    `generate`. Handles are never reused, so a stale handle cannot touch a later request.
    """

    def __init__(self, model: Text2SemanticModel, *, max_batch: int, max_len: int) -> None:
        if model.training:
            raise ValueError("decoding needs model.eval(): dropout would make it random")
        if max_batch < 1 or max_len < 2:
            raise ValueError("max_batch must be at least 1 and max_len at least 2")
        cfg = model.config
        self.model = model
        self.max_batch = max_batch
        self.max_len = max_len
        self.device = next(model.parameters()).device
        with torch.inference_mode():
            # keys/values [max_batch, H, max_len, Dh] per layer; row r belongs to _rows[r].
            cache = KVCache.allocate(
                cfg.n_layers,
                max_batch,
                cfg.n_heads,
                max_len,
                cfg.hidden_dim // cfg.n_heads,
                dtype=torch.float32,
                device=self.device,
            )
        self._keys, self._values = cache.keys, cache.values
        self._rows: list[_Row | None] = [None] * max_batch
        self._next_handle = 0

    @property
    def nbytes(self) -> int:
        """Memory held by the preallocated KV cache."""
        return sum(t.numel() * t.element_size() for t in (*self._keys, *self._values))

    @property
    def active(self) -> dict[int, int]:
        """handle -> cache row of every request still decoding."""
        return {row.handle: r for r, row in enumerate(self._rows) if row is not None}

    @property
    def free_rows(self) -> int:
        """Requests that `add` can take now."""
        return self._rows.count(None)

    @torch.inference_mode()
    def add(self, request: DecodeRequest) -> int:
        """Prefill ``request`` into a free row; it gets its first token at the next `step`.

        Raises `DecoderFull` when no row is free and `RejectedInput` when the request does
        not fit ``max_len`` or is malformed.
        """
        cfg = self.model.config
        phones = request.phone_ids.to(self.device)  # [Tx]
        bert = request.bert.to(self.device)  # [bert_dim, Tx]
        prompt = request.prompt_semantic
        prompt = phones.new_zeros(0) if prompt is None else prompt.to(self.device)  # [Tp]
        if phones.dim() != 1 or prompt.dim() != 1 or phones.numel() == 0:
            raise RejectedInput("bad_request", "phone_ids and prompt_semantic must be 1-D")
        tx, tp = phones.shape[0], prompt.shape[0]
        if bert.shape != (cfg.bert_dim, tx):
            raise RejectedInput(
                "bad_request", f"bert is {tuple(bert.shape)}, expected ({cfg.bert_dim}, {tx})"
            )
        if request.max_new_tokens < 1:
            raise RejectedInput("bad_request", "max_new_tokens must be at least 1")
        if tx + tp + request.max_new_tokens > self.max_len:
            raise RejectedInput(
                "request_too_long",
                f"{tx} phones + {tp} prompt tokens + {request.max_new_tokens} new tokens "
                f"exceed the decoder's {self.max_len} slots per row",
            )
        if None not in self._rows:
            raise DecoderFull(f"all {self.max_batch} rows are decoding")
        r = self._rows.index(None)  # lowest free row: keeps the stepped span [:hi] short

        # The row's slots as a batch-1 cache: the prefill writes its K/V in place.
        view = KVCache([k[r : r + 1] for k in self._keys], [v[r : r + 1] for v in self._values])
        logits = self.model.predict(
            phones[None],
            torch.tensor([tx], device=self.device),
            bert[None],
            prompt[None],
            torch.tensor([tp], device=self.device),
            view,
        )[:, tp].float()  # [1, V]
        history = phones.new_zeros(tp + request.max_new_tokens)
        history[:tp] = prompt
        generator = torch.Generator(device=self.device).manual_seed(request.seed)
        handle = self._next_handle
        self._next_handle += 1
        self._rows[r] = _Row(handle, request, generator, history, tx, tp, logits)
        return handle

    def cancel(self, handle: int) -> bool:
        """Free ``handle``'s row now (e.g. its client disconnected); False if not decoding."""
        for r, row in enumerate(self._rows):
            if row is not None and row.handle == handle:
                self._rows[r] = None
                return True
        return False

    @torch.inference_mode()
    def step(self) -> list[StepEvent]:
        """Sample one token for every active row, retire finished rows, advance the rest."""
        busy = [(r, row) for r, row in enumerate(self._rows) if row is not None]
        if not busy:
            return []
        eos = self.model.config.eos
        picks = []  # [2] per row: token, ends
        for _, row in busy:
            req, logits = row.request, row.logits
            if row.step < req.min_new_tokens:
                logits[:, eos] = float("-inf")
            probs = logits_to_probs(
                logits,
                row.history[None, : row.tp + row.step],
                top_k=req.top_k,
                top_p=req.top_p,
                temperature=req.temperature,
                repetition_penalty=req.repetition_penalty,
            )
            token = sample(probs, [row.generator])  # [1]
            row.history[row.tp + row.step] = token[0]
            ends = (token == eos) | (logits.argmax(-1) == eos)
            picks.append(torch.cat([token, ends.long()]))
        events, fed = [], {}
        for (r, row), (token, ends) in zip(busy, torch.stack(picks).tolist(), strict=True):
            last = row.step == row.request.max_new_tokens - 1  # out of budget: keep unless EOS
            events.append(StepEvent(row.handle, None if ends else token, bool(ends) or last))
            if ends or last:
                self._rows[r] = None
            else:
                fed[r] = token
        self._advance(fed)
        return events

    def _advance(self, fed: dict[int, int]) -> None:
        """Feed every continuing row r its new token ``fed[r]`` and store its next logits.

        Runs over rows [:hi] up to the highest busy one: free rows below it ride along as
        dummies (token 0 at slot 0, which a later prefill overwrites), which is cheaper than
        gathering the busy rows' caches every step.
        """
        if not fed:
            return
        hi = max(fed) + 1
        rows = self._rows[:hi]
        tokens, positions, lengths = [], [], []
        for r, row in enumerate(rows):
            if row is None:
                tokens.append(0)
                positions.append(0)
                lengths.append(0)
            else:
                tokens.append(fed[r])
                positions.append(row.position)
                lengths.append(row.tx + row.position)  # filled slots: text, prompt, fed tokens
        cache = RowKVCache(
            keys=[k[:hi] for k in self._keys],
            values=[v[:hi] for v in self._values],
            lengths=torch.tensor(lengths, device=self.device),  # [hi]
            span=max(lengths) + 1,
        )
        logits = self.model.decode_rows(
            torch.tensor(tokens, device=self.device),  # [hi]
            torch.tensor(positions, device=self.device),  # [hi]
            cache,
        ).float()  # [hi, V]
        for r, row in enumerate(rows):
            if row is not None:
                row.logits = logits[r : r + 1]
                row.step += 1
