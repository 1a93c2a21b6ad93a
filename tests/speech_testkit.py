"""Helpers for the alignment tests: espeak-ng speech with known timings, a simple energy
VAD, and a tiny randomly initialised wav2vec2 CTC model that whisperx can load offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr

from voicemill.corpus.espeak import EspeakVoice, synthesize

RATE = 16_000
MALE = EspeakVoice("en", "en-us", "m3")
MANDARIN = EspeakVoice("zh", "cmn-latn-pinyin", "m3")


@lru_cache(maxsize=128)
def _speech(text: str, voice: EspeakVoice) -> np.ndarray:
    audio, rate = synthesize(text, voice)
    out = soxr.resample(audio, rate, RATE).astype(np.float32)
    out.setflags(write=False)
    return out


def speak(text: str, voice: EspeakVoice = MALE) -> np.ndarray:
    """espeak-ng speech at 16 kHz, float32 mono (cached; copy before mutating)."""
    return _speech(text, voice)


def trim_silence(audio: np.ndarray, threshold_db: float = -40.0) -> np.ndarray:
    """Cut leading/trailing 10 ms frames quieter than ``threshold_db`` below the loudest."""
    hop = RATE // 100
    n = audio.size // hop
    energy = 10 * np.log10(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(energy > energy.max() + threshold_db)
    return audio[loud[0] * hop : (loud[-1] + 1) * hop]


def energy_segments(
    audio: np.ndarray, min_silence_s: float = 0.35, threshold_db: float = -35.0
) -> list[tuple[float, float]]:
    """A simple energy VAD: speech runs separated by at least ``min_silence_s`` of quiet."""
    hop = RATE // 100
    n = audio.size // hop
    energy = 10 * np.log10(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    speech = energy > energy.max() + threshold_db
    segments: list[tuple[float, float]] = []
    start = None
    quiet = 0
    for idx, active in enumerate(speech):
        if active:
            if start is None:
                start = idx
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * hop / RATE >= min_silence_s:
                segments.append((start * hop / RATE, (idx - quiet + 1) * hop / RATE))
                start, quiet = None, 0
    if start is not None:
        segments.append((start * hop / RATE, (n - quiet) * hop / RATE))
    return segments


def join_with_gaps(
    clips: Iterable[np.ndarray], gaps_s: Iterable[float], lead_s: float = 0.3
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Concatenate clips with silences; returns audio and each clip's true (start, end)."""
    parts = [np.zeros(int(lead_s * RATE), np.float32)]
    spans: list[tuple[float, float]] = []
    cursor = parts[0].size
    for clip, gap in zip(clips, gaps_s, strict=True):
        spans.append((cursor / RATE, (cursor + clip.size) / RATE))
        parts.append(clip.astype(np.float32))
        silence = np.zeros(int(gap * RATE), np.float32)
        parts.append(silence)
        cursor += clip.size + silence.size
    parts.append(np.zeros(int(lead_s * RATE), np.float32))
    audio = np.concatenate(parts)
    noise = np.random.default_rng(7).normal(0.0, 1e-3, audio.size).astype(np.float32)
    return audio + noise, spans


def write_tiny_wav2vec2(folder: Path, characters: str) -> Path:
    """Save a randomly initialised character CTC wav2vec2 + processor that whisperx loads.

    whisperx needs a ``Wav2Vec2Processor`` whose tokenizer vocabulary holds lowercase
    characters, ``<pad>`` as the CTC blank and ``|`` as the word delimiter.
    """
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    for ch in characters:
        vocab.setdefault(ch, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(
        str(folder / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|"
    )
    features = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=RATE, padding_value=0.0, do_normalize=True
    )
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,  # default kernels/strides: 20 ms frames
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        pad_token_id=0,
    )
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def write_tiny_bert(folder: Path, characters: str, dim: int = 16) -> Path:
    """Save a randomly initialised character BERT (masked LM + tokenizer) to ``folder``:
    the same classes as chinese-roberta-wwm-ext-large, small enough for a unit test."""
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(characters)]
    vocab.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(vocab)).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(tokens),
        hidden_size=dim,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    transformers.BertForMaskedLM(config).save_pretrained(folder)
    return folder
