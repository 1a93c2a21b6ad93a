"""Streaming parts of standardization: resampler, frame counters, stores and sinks.

Each keeps its state between blocks so that the standardizer can process a
recording of any length piece by piece; none of them knows about loudness
targets or rejection rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import soundfile as sf
import soxr

from voicemill.audio.atomic import move_into_place, temporary_sibling
from voicemill.audio.frames import ENERGY_FLOOR_DB, FRAME_HOP_S


class Resampler:
    """Streaming soxr resampler that is the identity when the rates match."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")
        )

    def process(self, x: np.ndarray) -> np.ndarray:
        """Resample the next mono samples; output lags input by the filter delay."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return x if self._stream is None else self._stream.resample_chunk(x)

    def flush(self) -> np.ndarray:
        """The delayed tail; call once after the last block."""
        empty = np.zeros(0, dtype=np.float32)
        return empty if self._stream is None else self._stream.resample_chunk(empty, last=True)


class ClipCounter:
    """Counts clipped samples overall and per 10 ms frame of the source."""

    def __init__(self, rate: int, threshold: float) -> None:
        self.rate = rate
        self.threshold = np.float32(threshold)
        self.frames = 0
        self.channels = 1
        self._clipped = 0
        self._done: list[np.ndarray] = []  # clipped-value counts of completed frames
        self._n_done = 0
        self._carry = 0.0  # count of the frame still open at the end of the last block

    def process(self, block: np.ndarray) -> None:
        """Count the next ``(n, channels)`` source samples; frames may span blocks."""
        if block.size == 0:
            return
        self.channels = block.shape[1]
        per_sample = np.count_nonzero(np.abs(block) >= self.threshold, axis=1)
        clipped = int(per_sample.sum())
        self._clipped += clipped
        first = self.frames * 100 // self.rate
        last = (self.frames + len(block) - 1) * 100 // self.rate
        if clipped:
            frame_of = np.arange(self.frames, self.frames + len(block), dtype=np.int64) * 100
            counts = np.bincount(frame_of // self.rate - first, weights=per_sample)
        else:  # the usual case: skip the per-sample frame bookkeeping
            counts = np.zeros(last - first + 1)
        if first == self._n_done:  # this block continues the open frame
            counts[0] += self._carry
        else:  # the open frame ended exactly at the previous block's end
            self._done.append(np.array([self._carry]))
            self._n_done += 1
        self._done.append(counts[:-1])
        self._n_done += len(counts) - 1
        self._carry = float(counts[-1])
        self.frames += len(block)

    def ratio(self) -> float:
        """Clipped values over all values (samples x channels) so far."""
        total = self.frames * self.channels
        return self._clipped / total if total else 0.0

    def fractions(self) -> np.ndarray:
        """Clipped fraction of each 10 ms frame (the last one may be partial)."""
        counts = np.concatenate([*self._done, [self._carry]]) if self.frames else np.zeros(0)
        index = np.arange(counts.size, dtype=np.int64)
        starts = -((-index * self.rate) // 100)  # first sample of each frame: ceil(f·rate/100)
        ends = np.minimum(-((-(index + 1) * self.rate) // 100), self.frames)
        sizes = np.maximum(ends - starts, 1) * self.channels
        return (counts / sizes).astype(np.float32)


class FrameEnergy:
    """Mean-square power of consecutive 10 ms frames, in dB."""

    def __init__(self, rate: int) -> None:
        self.hop = max(1, round(rate * FRAME_HOP_S))
        self._pending = np.zeros(0, dtype=np.float32)
        self._powers: list[np.ndarray] = []

    def process(self, x: np.ndarray) -> None:
        """Add mono samples; a partial frame waits for the next call."""
        data = np.concatenate([self._pending, x]) if self._pending.size else x
        whole = data.size - data.size % self.hop
        if whole:
            frames = data[:whole].astype(np.float64).reshape(-1, self.hop)
            self._powers.append(np.mean(frames * frames, axis=1))
        self._pending = data[whole:].copy()

    def energy_db(self) -> np.ndarray:
        """Per-frame energy in dB, the partial last frame included, floored at -100 dB."""
        powers = list(self._powers)
        if self._pending.size:
            tail = self._pending.astype(np.float64)
            powers.append(np.array([np.mean(tail * tail)]))
        power = np.concatenate(powers) if powers else np.zeros(0)
        floor = 10.0 ** (ENERGY_FLOOR_DB / 10.0)
        return (10.0 * np.log10(np.maximum(power, floor))).astype(np.float32)


class MonoStore(Protocol):
    """Where pass 1 keeps the model-rate mono signal for pass 2."""

    def append(self, mono: np.ndarray) -> None: ...
    def blocks(self) -> Iterator[np.ndarray]: ...


class Sink(Protocol):
    """Where pass 2 sends finished mono audio."""

    def write(self, mono: np.ndarray) -> None: ...


class MemoryStore:
    """Pass-1 signal kept in memory (short in-memory clips)."""

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []

    def append(self, mono: np.ndarray) -> None:
        self._parts.append(mono.copy())

    def blocks(self) -> Iterator[np.ndarray]:
        yield from self._parts


class FileStore:
    """Raw float32 samples in an anonymous temp file, read back in fixed blocks."""

    def __init__(self, fh: BinaryIO, block: int = 1 << 19) -> None:
        self._fh = fh
        self._block = block

    def append(self, mono: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(mono, dtype="<f4").tobytes())

    def blocks(self) -> Iterator[np.ndarray]:
        fh = self._fh
        fh.flush()
        fh.seek(0)
        while True:
            raw = fh.read(self._block * 4)
            if not raw:
                return
            yield np.frombuffer(raw, dtype="<f4").astype(np.float32)


class MemorySink:
    """Collects output audio in memory (``standardize_array``)."""

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []

    def write(self, mono: np.ndarray) -> None:
        self._parts.append(np.asarray(mono, dtype=np.float32).copy())

    def audio(self) -> np.ndarray:
        """Everything written, as one float32 array."""
        return np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.float32)


class WavSink:
    """PCM_16 mono WAV written under a hidden temp name, renamed on commit."""

    def __init__(self, target: Path, rate: int) -> None:
        self.target = target
        self._tmp = temporary_sibling(target)
        self._file: sf.SoundFile | None = sf.SoundFile(
            str(self._tmp), "w", samplerate=rate, channels=1, subtype="PCM_16", format="WAV"
        )

    def write(self, mono: np.ndarray) -> None:
        assert self._file is not None
        self._file.write(np.clip(mono, -1.0, 1.0))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def commit(self) -> None:
        """Close and move the file to its final name (atomic rename)."""
        self.close()
        move_into_place(self._tmp, self.target)

    def discard(self) -> None:
        """Remove the temp file if it was not committed (safe to call always)."""
        self.close()
        self._tmp.unlink(missing_ok=True)
