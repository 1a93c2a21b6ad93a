"""Linear and log-mel spectrograms as the s2 stage computes them.

Linear: reflect-pad (n_fft - hop) / 2 on both sides, STFT without centering, Hann
window, magnitude sqrt(|X|^2 + 1e-8); S samples give S / hop frames. Mel: a Slaney
filterbank (librosa's default) applied to that magnitude, then log(clamp(., 1e-5)).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def spectrogram(wav: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """[B, S] or [B, 1, S] waveform in [-1, 1] -> magnitude [B, n_fft // 2 + 1, S // hop]."""
    if wav.dim() == 3:
        wav = wav.squeeze(1)
    pad = (n_fft - hop) // 2
    wav = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win, dtype=wav.dtype, device=wav.device)
    x = torch.stft(wav, n_fft, hop, win, window=window, center=False, return_complex=True)
    return torch.sqrt(x.real.pow(2) + x.imag.pow(2) + 1e-8)


def _hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    # Slaney scale: linear below 1 kHz, logarithmic above.
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    linear = f / f_sp
    log = min_log_hz / f_sp + torch.log(f.clamp(min=min_log_hz) / min_log_hz) / logstep
    return torch.where(f >= min_log_hz, log, linear)


def _mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    log = min_log_hz * torch.exp(logstep * (m - min_log_mel))
    return torch.where(m >= min_log_mel, log, f_sp * m)


def mel_filterbank(
    sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """Slaney-normalised triangular filters [n_mels, n_fft // 2 + 1] (float64)."""
    fmax = sr / 2 if fmax is None else fmax
    fft_freqs = torch.linspace(0, sr / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = _hz_to_mel(torch.tensor([fmin, fmax], dtype=torch.float64))
    mel_f = _mel_to_hz(
        torch.linspace(float(edges[0]), float(edges[1]), n_mels + 2, dtype=torch.float64)
    )
    fdiff = mel_f.diff()
    ramps = mel_f.unsqueeze(1) - fft_freqs.unsqueeze(0)  # [n_mels + 2, F]
    lower = -ramps[:-2] / fdiff[:-1].unsqueeze(1)
    upper = ramps[2:] / fdiff[1:].unsqueeze(1)
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    enorm = 2.0 / (mel_f[2:] - mel_f[:-2])
    return weights * enorm.unsqueeze(1)


def spec_to_log_mel(spec: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    """Magnitude [B, F, T] -> log-mel [B, n_mels, T]."""
    mel = filterbank.to(spec.dtype) @ spec
    return torch.log(mel.clamp(min=1e-5))
