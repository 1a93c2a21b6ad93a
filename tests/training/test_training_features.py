"""Feature preparation: shapes line up across streams, and the cache is reused."""

from __future__ import annotations

import pandas as pd
import pytest
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


def test_mandarin_utterances_get_bert_features_cached_apart(ssl_extractor, tmp_path) -> None:
    import soundfile as sf
    from speech_testkit import MANDARIN, RATE, speak, write_tiny_bert

    from voicemill.features.bert import BertFeatureExtractor
    from voicemill.model.files import write_initial
    from voicemill.training.adapt import AdaptationConfig
    from voicemill.training.voice import AdaptationError, BaseCheckpoints, adapt_voice

    texts = ["你好世界", "我喜欢编程"]
    rows = []
    for i, text in enumerate(texts):
        path = tmp_path / f"zh{i}.wav"
        sf.write(path, speak(text, MANDARIN), RATE)
        rows.append(
            {
                "utterance_id": f"zh{i}",
                "audio_path": str(path),
                "sample_rate": RATE,
                "language": "zh",
                "text": text,
                "normalized_text": text,
                "duration_s": 1.0,
            }
        )
    manifest = pd.DataFrame(rows)
    cfg = SoVITSConfig.tiny()
    cache = tmp_path / "cache"
    plain, computed = prepare_features(manifest, cache, ssl_extractor, cfg)
    assert computed == 2 and not any(f.bert.any() for f in plain)
    bert = BertFeatureExtractor(write_tiny_bert(tmp_path / "bert", "".join(texts), dim=16))
    with_bert, computed = prepare_features(manifest, cache, ssl_extractor, cfg, bert)
    assert computed == 2  # never served from the zero-BERT entries
    for f in with_bert:
        assert f.bert.shape == (16, f.phone_ids.numel()) and f.bert.abs().sum() > 0
    assert prepare_features(manifest, cache, ssl_extractor, cfg, bert)[1] == 0
    # A base GPT that projects 1024-d BERT refuses 16-d features before training.
    files = write_initial(tmp_path / "base", "tiny", seed=0)
    base = BaseCheckpoints(files["s1"], files["s2G"], files["s2D"])
    with pytest.raises(AdaptationError, match=r"\[16\]-d BERT") as excinfo:
        adapt_voice(base, with_bert, AdaptationConfig(), tmp_path / "run")
    assert excinfo.value.reason == "base_mismatch"
