"""Streaming ITU-R BS.1770-4 loudness and true peak for mono signals.

Why not just call pyloudnorm: ``pyloudnorm.Meter.integrated_loudness`` needs the
whole signal in memory (a 2-hour recording is hundreds of MB as float64). We
reuse pyloudnorm's K-weighting biquads (``Meter(rate)._filters``: a high shelf
and a high pass, each with ``b``, ``a`` and a ``passband_gain``) so the numbers
match it, and run them block by block with ``scipy.signal.sosfilt`` carrying
the filter state (``zi``) across blocks — sosfilt is lfilter for cascaded
biquads, one C call for both stages. Only one float per 100 ms survives (the
filtered energy of each quarter of a 400 ms gating block), so memory is
~300 kB per hour. Gating follows pyloudnorm exactly (400 ms blocks, 75 %
overlap, absolute gate -70 LUFS, relative gate -10 LU, the last block may be
partial).

True peak: 4x oversampling with a streaming **soxr** resampler (high quality,
linear phase) and the maximum absolute value, never lower than the sample peak.

Both meters measure one channel: VoiceMill measures the mono downmix it writes,
not a multichannel programme with BS.1770 surround weights.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pyloudnorm
import soxr
from scipy.signal import sosfilt

_BLOCK_S = 0.4
_QUARTERS_PER_BLOCK = 4
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_LUFS_OFFSET = -0.691
_ANTI_DENORMAL = 1e-18


@lru_cache(maxsize=16)
def k_weighting_sos(rate: int) -> tuple[np.ndarray, float]:
    """pyloudnorm's K-weighting as second-order sections plus the overall gain."""
    meter = pyloudnorm.Meter(rate)  # K-weighting is its default filter class
    sections = []
    gain = 1.0
    for stage in meter._filters.values():
        b, a = np.asarray(stage.b, dtype=np.float64), np.asarray(stage.a, dtype=np.float64)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
        gain *= float(stage.passband_gain)
    sos = np.vstack(sections)
    sos.setflags(write=False)
    return sos, gain


class StreamingLoudnessMeter:
    """Gated integrated loudness (LUFS) of a mono signal fed in any block sizes."""

    def __init__(self, rate: int) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = int(rate)
        sos, self._gain = k_weighting_sos(self.rate)
        self._sos = sos.copy()  # the cached array is read-only; sosfilt wants a writable one
        self._zi = np.zeros((self._sos.shape[0], 2))
        self._quarters: list[float] = []  # filtered energy per completed 100 ms quarter
        self._partial = 0.0  # energy of the quarter in progress
        self._samples = 0

    @property
    def samples(self) -> int:
        return self._samples

    def process(self, block: np.ndarray) -> None:
        """Add the next mono samples (1-D)."""
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError("StreamingLoudnessMeter takes mono (1-D) blocks")
        if x.size == 0:
            return
        # The tiny DC offset keeps the filter states far from subnormal floats during
        # digital silence (subnormal arithmetic is ~10x slower); the high pass removes it.
        y, self._zi = sosfilt(self._sos, x + _ANTI_DENORMAL, zi=self._zi)
        energy = np.square(y * self._gain)
        start, end = self._samples, self._samples + x.size
        # Quarter boundaries q·rate/10 that fall in (start, end], relative to the block.
        first_k = len(self._quarters) + 1
        last_k = (10 * (end + 1) - 1) // self.rate
        cuts = np.arange(first_k, last_k + 1, dtype=np.int64) * self.rate // 10 - start
        if cuts.size == 0:
            self._partial += float(energy.sum())
        else:
            edges = np.concatenate([[0], cuts[:-1] if cuts[-1] == x.size else cuts])
            sums = np.add.reduceat(energy, edges)
            sums[0] += self._partial
            if cuts[-1] == x.size:  # the block ends exactly on a boundary
                self._quarters.extend(sums.tolist())
                self._partial = 0.0
            else:
                self._quarters.extend(sums[:-1].tolist())
                self._partial = float(sums[-1])
        self._samples = end

    def block_powers(self) -> np.ndarray:
        """Mean-square K-weighted power of each 400 ms gating block (75 % overlap)."""
        block_len = _BLOCK_S * self.rate
        if self._samples == 0:
            return np.zeros(0)
        duration = self._samples / self.rate
        if duration < _BLOCK_S:
            # Shorter than one gating block: one block over what exists.
            return np.array([(sum(self._quarters) + self._partial) / self._samples])
        quarters = np.array([*self._quarters, self._partial])
        n_blocks = int(np.round((duration - _BLOCK_S) / (_BLOCK_S / _QUARTERS_PER_BLOCK))) + 1
        n_blocks = min(n_blocks, quarters.size - _QUARTERS_PER_BLOCK + 1)
        window = np.lib.stride_tricks.sliding_window_view(quarters, _QUARTERS_PER_BLOCK)
        return window[:n_blocks].sum(axis=1) / block_len

    def integrated_lufs(self) -> float:
        """BS.1770-4 gated loudness; ``-inf`` when nothing passes the gates."""
        z = self.block_powers()
        with np.errstate(divide="ignore"):
            levels = _LUFS_OFFSET + 10.0 * np.log10(z)
        above_abs = levels >= _ABSOLUTE_GATE_LUFS
        if not above_abs.any():
            return -math.inf
        relative_gate = _LUFS_OFFSET + 10.0 * math.log10(z[above_abs].mean()) + _RELATIVE_GATE_LU
        gated = (levels > relative_gate) & (levels > _ABSOLUTE_GATE_LUFS)
        if not gated.any():
            return -math.inf
        return _LUFS_OFFSET + 10.0 * math.log10(z[gated].mean())


class TruePeakMeter:
    """Streaming true peak (dBTP) of a mono signal via 4x soxr oversampling."""

    def __init__(self, rate: int, oversample: int = 4) -> None:
        if rate <= 0 or oversample < 1:
            raise ValueError("rate and oversample must be positive")
        self.rate = int(rate)
        self._resampler = soxr.ResampleStream(
            self.rate, self.rate * oversample, 1, dtype="float32", quality="HQ"
        )
        self._peak = 0.0
        self._finished = False

    def process(self, block: np.ndarray) -> None:
        """Add the next mono samples (1-D)."""
        if self._finished:
            raise RuntimeError("TruePeakMeter already finished")
        x = np.ascontiguousarray(block, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError("TruePeakMeter takes mono (1-D) blocks")
        if x.size == 0:
            return
        self._peak = max(self._peak, _abs_max(x), _abs_max(self._resampler.resample_chunk(x)))

    def peak(self) -> float:
        """Linear true peak; flushes the resampler, so call once after the last block."""
        if not self._finished:
            tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            self._peak = max(self._peak, _abs_max(tail))
            self._finished = True
        return self._peak

    def true_peak_dbtp(self) -> float:
        """True peak in dBTP (``-inf`` for digital silence)."""
        return amplitude_to_db(self.peak())


def amplitude_to_db(value: float) -> float:
    """20·log10 with ``-inf`` for zero."""
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def _abs_max(x: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    return float(max(x.max(), -x.min()))
