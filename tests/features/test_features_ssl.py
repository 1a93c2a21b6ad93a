"""SSL extractors: a tiny random HuBERT, and the real bundled Whisper tiny.en encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soxr
import torch
import transformers  # tests/conftest.py sets HF_HUB_OFFLINE=1 before this import

from voicemill.features.base import FeatureError, expected_ssl_frames
from voicemill.features.ssl import HubertSSL, SSLExtractor, WhisperEncoderSSL, load_ssl

HUBERT_DIM = 32


@pytest.fixture(scope="module")
def hubert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chinese-hubert-base layout (model + feature extractor config), tiny random weights."""
    folder = tmp_path_factory.mktemp("tiny_hubert")
    config = transformers.HubertConfig(
        hidden_size=HUBERT_DIM,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,  # default kernels and strides: 320-sample (20 ms) hop
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    torch.manual_seed(0)
    transformers.HubertModel(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def whisper() -> WhisperEncoderSSL:
    return WhisperEncoderSSL(cpu_threads=2)


def _speech_16k(text: str) -> np.ndarray:
    from voicemill.corpus.espeak import EspeakNotInstalled, EspeakVoice, synthesize

    try:
        audio, rate = synthesize(text, EspeakVoice("en", "en-us"))
    except EspeakNotInstalled:
        pytest.skip("espeak-ng is not installed")
    return soxr.resample(audio, rate, 16_000).astype(np.float32)


def test_features_ssl_hubert_shape_and_determinism(hubert_dir: Path) -> None:
    ssl = load_ssl(hubert_dir)
    assert isinstance(ssl, HubertSSL) and isinstance(ssl, SSLExtractor)
    assert ssl.dim == HUBERT_DIM and ssl.frame_rate == 50
    audio = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    features = ssl.extract(audio)
    assert features.shape == (1, HUBERT_DIM, (16_000 - 400) // 320 + 1)
    assert abs(features.shape[2] - expected_ssl_frames(16_000)) <= 1
    assert torch.isfinite(features).all()
    torch.testing.assert_close(ssl.extract(torch.from_numpy(audio)), features, rtol=0, atol=0)


def test_features_ssl_hubert_skips_feature_extractor_normalisation(hubert_dir: Path) -> None:
    # Upstream feeds the raw waveform; normalising it first would change the features.
    ssl = HubertSSL(hubert_dir)
    audio = np.random.default_rng(1).standard_normal(8_000).astype(np.float32) * 0.05 + 0.02
    with torch.no_grad():
        raw = ssl.model(torch.from_numpy(audio)[None]).last_hidden_state.transpose(1, 2)
    torch.testing.assert_close(ssl.extract(audio), raw)


def test_features_ssl_rejects_bad_audio(hubert_dir: Path) -> None:
    ssl = HubertSSL(hubert_dir)
    with pytest.raises(FeatureError) as error:
        ssl.extract(np.zeros(100, dtype=np.float32))
    assert error.value.reason == "audio_too_short"
    with pytest.raises(FeatureError):
        ssl.extract(np.full(1_000, np.nan, dtype=np.float32))
    with pytest.raises(FeatureError):
        ssl.extract(np.zeros((2, 1_000), dtype=np.float32))


def test_features_ssl_whisper_encoder_on_speech(whisper: WhisperEncoderSSL) -> None:
    first = _speech_16k("The quick brown fox jumps over the lazy dog.")
    second = _speech_16k("Seven silver spoons lay on the kitchen table.")
    features = whisper.extract(first)
    assert whisper.dim == 384 and whisper.frame_rate == 50
    assert features.shape == (1, 384, expected_ssl_frames(first.shape[0]))
    assert abs(features.shape[2] - first.shape[0] / 16_000 * 50) <= 1
    assert features.dtype == torch.float32 and torch.isfinite(features).all()
    assert features.std() > 0.01
    torch.testing.assert_close(whisper.extract(first), features, rtol=0, atol=0)
    other = whisper.extract(second)
    frames = min(features.shape[2], other.shape[2])
    assert not torch.allclose(features[..., :frames], other[..., :frames], atol=1e-2)


def test_features_ssl_whisper_spans_several_windows(whisper: WhisperEncoderSSL) -> None:
    # 30.5 s: two 30 s encoder windows, trimmed back to the 20 ms grid.
    audio = np.random.default_rng(2).standard_normal(30 * 16_000 + 8_001).astype(np.float32)
    features = whisper.extract(audio * 0.05)
    assert features.shape == (1, 384, expected_ssl_frames(audio.shape[0]))
    assert torch.isfinite(features).all()


def test_features_ssl_load_ssl_defaults_to_bundled_whisper(tmp_path: Path) -> None:
    with pytest.raises(FeatureError) as error:
        load_ssl(tmp_path / "missing")
    assert error.value.reason == "model_not_found"
    ssl = load_ssl(None, cpu_threads=2)
    assert isinstance(ssl, WhisperEncoderSSL) and isinstance(ssl, SSLExtractor)
    assert ssl.dim == 384  # probed with one encode before any extract call
