"""Token-chunked vocoding: audio for a segment while its semantic tokens still arrive.

Sentence-by-sentence streaming makes the first audio wait for the whole first sentence's
tokens, so time-to-first-audio grows with the text. Here SoVITS decodes a *window* of
the tokens so far as soon as the next chunk's worth exists:

    tokens   |----left----|=====chunk=====|--lookahead--|
    window   ws                                         we      decoded together
    emitted                sent            e                    the chunk's audio only

The chunk's audio is cut out of the window's (SoVITS's attention and convolutions see
``left`` tokens before it and ``lookahead`` after, so its edges are decoded in context),
and its first ``fade`` token(s) are crossfaded with the previous window's audio of the
same tokens. Chunks double from ``first`` up to ``size`` so the first
audio needs only ``first + lookahead`` tokens; later segments start at ``size`` (a whole
segment is playing by then). Steady-state windows have one length, so the CPU kernels'
per-shape setup (~0.1 s for a new 60-token shape here) is mostly paid once per process.
The context costs decode work: a 100-token first segment decodes ~140 tokens' worth.

Chunk boundaries are a function of the token count alone (never of timing), and each
window's noise is seeded from the request's seed, the segment and the window's start, so
a request's streamed audio is the same whoever else is being served. It is not the same
as the whole segment decoded at once: windows see less context and their prior noise is
drawn per window (tests/synthesis/test_synthesis_chunked.py bounds the difference);
whole (non-streamed) answers keep the whole-segment decode. Gain: a chunk whose peak
would exceed 1 lowers the gain from there on (the whole decode normalizes the segment's
peak, which a stream cannot know in advance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

# (tokens [W] of a window, the window's noise seed) -> raw float32 audio of the window
Vocode = Callable[[torch.Tensor, int], np.ndarray]


@dataclass(frozen=True)
class ChunkPlan:
    """Chunk sizes and context, in semantic tokens (25 per second of speech at speed 1)."""

    first: int = 6  # 0.24 s: the first audio waits for first + lookahead tokens
    size: int = 48  # chunks double from `first` up to this (~2 s)
    left: int = 8  # context decoded before a chunk
    lookahead: int = 3  # context decoded after it; also what the next crossfade reuses
    fade: int = 1  # tokens crossfaded between consecutive windows (<= lookahead)

    def chunk(self, k: int) -> int:
        """Tokens in chunk ``k`` (0-based)."""
        return min(self.size, self.first << min(k, 16))

    @property
    def window(self) -> int:
        """The steady-state window length."""
        return self.left + self.size + self.lookahead

    def after_first_segment(self) -> ChunkPlan:
        """Later segments start with full-size chunks: a whole segment plays before them."""
        return replace(self, first=self.size)


class ChunkedVocoder:
    """One segment's audio, chunk by chunk, from its growing token list."""

    def __init__(self, vocode: Vocode, noise_seed: int, plan: ChunkPlan | None = None) -> None:
        self.vocode = vocode
        self.noise_seed = noise_seed
        self.plan = plan or ChunkPlan()
        self.sent = 0  # tokens whose audio has been returned
        self.chunks = 0
        self.gain = 1.0
        self._tail: np.ndarray | None = None  # previous window's audio from `sent` on

    def push(self, tokens: list[int], finished: bool) -> list[np.ndarray]:
        """Audio for every chunk that ``tokens`` (all of the segment's so far) completes;
        with ``finished`` also the rest. Call it as often as tokens arrive."""
        plan = self.plan
        out: list[np.ndarray] = []
        n = len(tokens)
        while n > self.sent:
            size = plan.chunk(self.chunks)
            if n - self.sent >= size + plan.lookahead:
                end = self.sent + size
            elif finished:
                end = n
            else:
                break
            out.append(self._chunk(tokens, end, last=end == n and finished))
        return out

    def _chunk(self, tokens: list[int], end: int, last: bool) -> np.ndarray:
        plan = self.plan
        stop = min(len(tokens), end + plan.lookahead)
        start = max(0, self.sent - plan.left)
        seed = (self.noise_seed * 1_000_003 + start) % 2**63
        audio = self.vocode(torch.tensor(tokens[start:stop], dtype=torch.long), seed)
        per_token = audio.shape[0] / (stop - start)  # samples; 1280 at speed 1

        def at(token: int) -> int:
            return round((token - start) * per_token)

        piece = audio[at(self.sent) : at(end)].copy()
        if self._tail is not None and piece.size:
            n = min(self._tail.shape[0], piece.shape[0])
            ramp = np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)
            piece[:n] = self._tail[:n] * (1.0 - ramp) + piece[:n] * ramp
        self._tail = None if last else audio[at(end) : at(min(stop, end + plan.fade))]
        peak = float(np.abs(piece).max()) if piece.size else 0.0
        if peak * self.gain > 1.0:
            self.gain = 1.0 / peak
        self.sent = end
        self.chunks += 1
        return (piece * self.gain).astype(np.float32, copy=False)
