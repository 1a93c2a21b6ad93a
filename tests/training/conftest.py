"""Shared fixtures: a handful of short espeak utterances as a 32 kHz training manifest.

One intra-op torch thread: the CPU box is shared and small-tensor steps slow down by
an order of magnitude when OpenMP workers contend for cores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr
import torch

from voicemill.corpus.espeak import EspeakVoice, synthesize

RATE = 32_000
VOICE = EspeakVoice("en", "en-us", "m3")
SENTENCES = (
    "The quick brown fox jumps.",
    "She sells sea shells today.",
    "Open the window please.",
    "We walked along the river.",
    "Bring me a cup of tea.",
    "The train leaves at noon.",
)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Small-tensor model steps run fastest on one thread on a shared box."""


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Six ~1.5 s English utterances as PCM_16 32 kHz wavs, in manifest columns."""
    root = tmp_path_factory.mktemp("utterances")
    rows = []
    for index, text in enumerate(SENTENCES):
        audio, rate = synthesize(text, VOICE)
        audio = soxr.resample(audio, rate, RATE).astype(np.float32)
        path = root / f"u{index}.wav"
        sf.write(path, audio, RATE, subtype="PCM_16")
        rows.append(
            {
                "utterance_id": f"u{index}",
                "audio_path": str(path),
                "sample_rate": RATE,
                "language": "en",
                "text": text,
                "normalized_text": text.lower(),
                "duration_s": audio.shape[0] / RATE,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def ssl_extractor():
    from voicemill.features.ssl import load_ssl

    return load_ssl(None, cpu_threads=1)


@pytest.fixture(scope="session")
def features(manifest: pd.DataFrame, ssl_extractor, tmp_path_factory: pytest.TempPathFactory):
    from voicemill.model.sovits.config import SoVITSConfig
    from voicemill.training.features import prepare_features

    cache = tmp_path_factory.mktemp("feature_cache")
    prepared, _ = prepare_features(manifest, cache, ssl_extractor, SoVITSConfig.tiny())
    return prepared


S2_STEPS = 60


@pytest.fixture(scope="session")
def s2_run(features, ssl_extractor):
    """One short tiny-s2 run shared by the s2 and s1 tests (the s2 part is the slow one).

    lr 3e-3 instead of upstream's 1e-4 (a fine-tuning rate) so a model from scratch moves
    within a test's budget. The discriminator is the default for the tiny preset: all v2
    periods at 128 channels (~0.17 s a step at batch 2 on one thread; the full-width one
    takes ~2.3 s).
    """
    from voicemill.training.s2_train import S2TrainConfig, tiny_s2_config, train_s2

    torch.set_num_threads(1)
    cfg = S2TrainConfig(lr=3e-3, batch_size=2)  # all v2 periods, tiny width (the default)
    return train_s2(tiny_s2_config(ssl_extractor.dim), cfg, features, S2_STEPS, seed=0)
