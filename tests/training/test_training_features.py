"""Feature preparation: shapes line up across streams, and the cache is reused."""

from __future__ import annotations

import pandas as pd
import torch

from voicemill.model.sovits.config import SoVITSConfig
from voicemill.training.features import BERT_DIM, prepare_features


def test_features_align_on_the_50hz_grid(features, ssl_extractor) -> None:
    cfg = SoVITSConfig.tiny()
    assert len(features) == 6
    for f in features:
        frames = f.spec.shape[1]
        assert f.spec.shape[0] == cfg.spec_channels
        assert f.ssl.shape == (ssl_extractor.dim, frames)
        assert f.wav.shape == (frames * cfg.hop_length,)
        assert f.bert.shape == (BERT_DIM, f.phone_ids.numel())
        assert not f.bert.any()  # English: zeros, as upstream trains
        assert abs(f.duration_s - frames / 50) < 1e-9
        assert f.ssl.std() > 0  # real encoder output, not padding


def test_cache_hit_skips_recomputation_and_returns_the_same_features(
    manifest: pd.DataFrame, ssl_extractor, tmp_path
) -> None:
    cfg = SoVITSConfig.tiny()
    two = manifest.head(2)
    first, computed = prepare_features(two, tmp_path, ssl_extractor, cfg)
    assert computed == 2
    again, computed = prepare_features(two, tmp_path, ssl_extractor, cfg)
    assert computed == 0
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a.ssl, b.ssl) and torch.equal(a.phone_ids, b.phone_ids)
    # Changed audio (another utterance's file under the first id) is a cache miss.
    changed = two.copy()
    changed.loc[0, "audio_path"] = manifest.loc[2, "audio_path"]
    _, computed = prepare_features(changed, tmp_path, ssl_extractor, cfg)
    assert computed == 1
