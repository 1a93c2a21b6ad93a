"""BertFeatureExtractor on a tiny random BERT: layer choice, per-phone repetition, zeros."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers  # tests/conftest.py sets HF_HUB_OFFLINE=1 before this import
from speech_testkit import write_tiny_bert

from voicemill.features.base import FeatureError
from voicemill.features.bert import BertFeatureExtractor
from voicemill.text.frontend import text_to_phonemes

CHARS = "你好世界我喜欢编程,.!"
DIM = 16


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), CHARS, DIM)


@pytest.fixture(scope="module")
def bert(bert_dir: Path) -> BertFeatureExtractor:
    return BertFeatureExtractor(bert_dir)


def test_features_bert_mandarin_matches_layer_minus_3_repeated_per_phone(
    bert: BertFeatureExtractor, bert_dir: Path
) -> None:
    phonemes = text_to_phonemes("你好，世界。", "zh")
    segment = phonemes.segments[0]
    features = bert.phoneme_features(phonemes)
    assert bert.dim == DIM
    assert features.shape == (DIM, sum(segment.word2ph)) == (DIM, len(phonemes.phones))

    # Reference: whole-string tokenization, hidden_states[-3], CLS/SEP stripped.
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    model = transformers.AutoModelForMaskedLM.from_pretrained(bert_dir).eval()
    inputs = tokenizer(segment.norm_text, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True).hidden_states[-3][0, 1:-1]
    assert hidden.shape[0] == len(segment.norm_text)
    column = 0
    for char_index, count in enumerate(segment.word2ph):
        for _ in range(count):
            torch.testing.assert_close(features[:, column], hidden[char_index])
            column += 1
    # Different characters give different vectors; the last hidden layer is not used.
    assert not torch.allclose(features[:, 0], features[:, 2])
    last = model(**inputs, output_hidden_states=True).hidden_states[-1][0, 1:-1]
    assert not torch.allclose(features[:, 0], last[0].detach())


def test_features_bert_english_is_zeros(bert: BertFeatureExtractor) -> None:
    phonemes = text_to_phonemes("Hello world.", "en")
    features = bert.phoneme_features(phonemes)
    assert features.shape == (DIM, len(phonemes.phones))
    assert torch.count_nonzero(features) == 0


def test_features_bert_mixed_text_per_segment(bert: BertFeatureExtractor) -> None:
    phonemes = text_to_phonemes("我喜欢 Python 编程!", "auto")
    assert [seg.language for seg in phonemes.segments] == ["zh", "en", "zh"]
    features = bert.phoneme_features(phonemes)
    assert features.shape == (DIM, len(phonemes.phones))
    start = 0
    for segment in phonemes.segments:
        part = features[:, start : start + len(segment.phones)]
        if segment.language == "zh":
            assert torch.count_nonzero(part, dim=0).min() > 0
            torch.testing.assert_close(part, bert.segment_features(segment))
        else:
            assert torch.count_nonzero(part) == 0
        start += len(segment.phones)


def test_features_bert_rejects_word2ph_mismatch(bert: BertFeatureExtractor) -> None:
    with pytest.raises(FeatureError) as error:
        bert.extract("你好", [2, 2, 1])
    assert error.value.reason == "word2ph_mismatch"
    with pytest.raises(FeatureError):
        bert.extract("你好", [2, 2], n_phones=5)
