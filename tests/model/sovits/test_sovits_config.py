"""SoVITSConfig presets and their validation."""

from __future__ import annotations

import dataclasses
import math

import pytest

from voicemill.model.sovits.config import SoVITSConfig


def test_v2_values_follow_the_official_s2_json() -> None:
    cfg = SoVITSConfig.v2()
    stft = (cfg.filter_length, cfg.hop_length, cfg.win_length)
    assert cfg.sampling_rate == 32000 and stft == (2048, 640, 2048)
    assert cfg.spec_channels == 1025 and cfg.segment_frames == 32
    assert (cfg.n_symbols, cfg.ref_enc_bins, cfg.ssl_dim, cfg.codebook_size) == (
        732,
        704,
        768,
        1024,
    )
    assert cfg.upsample_rates == (10, 8, 2, 2, 2) and cfg.gin_channels == 512


def test_tiny_keeps_the_structure_and_the_640_sample_hop() -> None:
    tiny, v2 = SoVITSConfig.tiny(), SoVITSConfig.v2()
    assert math.prod(tiny.upsample_rates) == tiny.hop_length == v2.hop_length
    assert tiny.hidden_channels < v2.hidden_channels and tiny.gin_channels < v2.gin_channels
    # 384: the bundled whisper tiny.en encoder, the platform's offline SSL extractor.
    assert (tiny.ssl_dim, tiny.n_symbols, tiny.spec_channels) == (384, 732, 1025)


@pytest.mark.parametrize(
    "change",
    [{"upsample_rates": (10, 8, 2, 2)}, {"semantic_frame_rate": "50hz"}, {"segment_size": 1000}],
)
def test_inconsistent_configs_are_rejected(change: dict) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(SoVITSConfig.v2(), **change)


def test_hparams_round_trip_keeps_unknown_keys() -> None:
    raw = SoVITSConfig.tiny().to_hparams()
    assert raw["model"]["upsample_rates"] == [10, 8, 8]
    raw["train"]["lr"] = 1e-4
    cfg = SoVITSConfig.from_hparams(raw)
    assert cfg == SoVITSConfig.tiny()
    assert cfg.to_hparams() == raw
