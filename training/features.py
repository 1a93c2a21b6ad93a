"""Per-utterance training features for both stages, cached content-addressed on disk.

Mirrors upstream's preparation steps (FACTS §5, §7): ``2-name2text`` (phone ids),
``3-bert`` (zeros for non-Mandarin / no BERT model), ``4-cnhubert`` (50 Hz SSL from a
16 kHz resample) and ``5-wav32k`` (waveform + linear spectrogram). Extracting SSL is
the slow part, so each utterance's features are stored under a key built from the audio
bytes, the text it is read as and the extractor's name: rerunning on an unchanged
manifest recomputes nothing, and switching extractors never reuses stale features.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import soxr
import torch

from voicemill.features.base import SSL_SAMPLE_RATE
from voicemill.features.bert import BertFeatureExtractor
from voicemill.features.ssl import SSLExtractor
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.spectrogram import spectrogram
from voicemill.text.frontend import text_to_phonemes
from voicemill.text.version import FRONTEND_VERSION

BERT_DIM = 1024
_CACHE_VERSION = "1"  # bump when the stored layout or the computation changes


@dataclass(frozen=True)
class UtteranceFeatures:
    """Everything both stages read for one utterance; T frames at 50 Hz."""

    utterance_id: str
    duration_s: float
    phone_ids: torch.Tensor  # [Tp] long
    bert: torch.Tensor  # [1024, Tp]
    ssl: torch.Tensor  # [ssl_dim, T], padded/trimmed to the spectrogram's T
    spec: torch.Tensor  # [1025, T] linear magnitude
    wav: torch.Tensor  # [T * hop] at 32 kHz in [-1, 1]


def extractor_name(ssl: SSLExtractor) -> str:
    """Identifies the extractor in cache keys: class plus model directory when known.

    Whisper extractors carry ``model_dir``; transformers models know ``name_or_path``.
    """
    source = getattr(ssl, "model_dir", None) or getattr(
        getattr(ssl, "model", None), "name_or_path", None
    )
    return f"{type(ssl).__name__}:{source or ''}"


def cache_key(audio_path: str | Path, language: str, text: str, extractor: str) -> str:
    audio_sha = hashlib.sha256(Path(audio_path).read_bytes()).hexdigest()
    parts = (_CACHE_VERSION, FRONTEND_VERSION, audio_sha, extractor, language, text)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _load_wav_32k(path: str | Path, rate: int) -> np.ndarray:
    audio, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if file_rate != rate:
        mono = soxr.resample(mono, file_rate, rate).astype(np.float32)
    return mono


def _match_frames(ssl: torch.Tensor, frames: int) -> torch.Tensor:
    """[D, Ts] -> [D, frames]: replicate-pad the last frame (upstream pads one) or trim."""
    if ssl.shape[1] < frames:
        tail = ssl[:, -1:].expand(-1, frames - ssl.shape[1])
        return torch.cat([ssl, tail], dim=1)
    return ssl[:, :frames]


def compute_features(
    utterance_id: str,
    audio_path: str | Path,
    language: str,
    text: str,
    ssl: SSLExtractor,
    cfg: SoVITSConfig,
    bert: BertFeatureExtractor | None = None,
) -> UtteranceFeatures:
    """``bert``: phone-aligned BERT features for Mandarin runs; None gives zeros (FACTS §5)."""
    phonemes = text_to_phonemes(text, language)
    phone_ids = torch.tensor(phonemes.ids, dtype=torch.long)  # [Tp]
    audio = _load_wav_32k(audio_path, cfg.sampling_rate)
    frames = audio.shape[0] // cfg.hop_length
    audio = audio[: frames * cfg.hop_length]  # whole frames: spectrogram gives exactly T
    wav = torch.from_numpy(np.ascontiguousarray(audio))  # [T * hop]
    spec = spectrogram(wav[None], cfg.filter_length, cfg.hop_length, cfg.win_length)[0]
    audio_16k = soxr.resample(audio, cfg.sampling_rate, SSL_SAMPLE_RATE).astype(np.float32)
    ssl_features = _match_frames(ssl.extract(audio_16k)[0], frames)  # [D, T]
    return UtteranceFeatures(
        utterance_id=utterance_id,
        duration_s=frames * cfg.hop_length / cfg.sampling_rate,
        phone_ids=phone_ids,
        bert=(
            bert.phoneme_features(phonemes)
            if bert is not None
            else torch.zeros(BERT_DIM, phone_ids.numel())
        ),
        ssl=ssl_features,
        spec=spec,
        wav=wav,
    )


def prepare_features(
    manifest: pd.DataFrame,
    cache_dir: str | Path,
    ssl: SSLExtractor,
    cfg: SoVITSConfig,
    bert: BertFeatureExtractor | None = None,
) -> tuple[list[UtteranceFeatures], int]:
    """Features of every manifest row, in manifest order; returns (features, n_computed).

    ``n_computed`` counts cache misses, so callers (and tests) can see reuse.
    """
    root = Path(cache_dir)
    name = extractor_name(ssl)
    if bert is not None:  # features with and without BERT never share a cache entry
        name += f"|bert:{bert.model.name_or_path}"
    out: list[UtteranceFeatures] = []
    computed = 0
    for row in manifest.itertuples(index=False):
        key = cache_key(row.audio_path, row.language, row.text, name)
        path = root / key[:2] / f"{key}.pt"
        if path.is_file():
            stored = torch.load(path, weights_only=True)
            stored["utterance_id"] = str(row.utterance_id)  # same audio may recur under new ids
            out.append(UtteranceFeatures(**stored))
            continue
        features = compute_features(
            str(row.utterance_id), row.audio_path, row.language, row.text, ssl, cfg, bert
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(asdict(features), tmp)
        tmp.replace(path)  # atomic: a killed run never leaves a truncated cache entry
        out.append(features)
        computed += 1
    return out, computed
