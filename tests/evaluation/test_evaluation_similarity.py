"""Speaker similarity with resemblyzer on espeak pseudo-speakers.

Measured on this machine (cosine of a synthesis with the centroid of three other
sentences): same voice 0.84-0.91; m3 vs f2 0.63-0.68, m1 vs f2 0.58-0.63. en m1 and
en-us m3 are too alike (0.78-0.85 against each other's centroids, same-voice 0.84-0.90)
for a robust test, so different-voice pairs below always involve f2.
"""

from __future__ import annotations

import numpy as np
import pytest

from voicemill.evaluation import (
    EvaluationError,
    SpeakerEncoder,
    speaker_centroid,
    speaker_similarity,
)

REFERENCES = (
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
)
SYNTHESES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
)
# (synthesis voice, reference voice) pairs that are different speakers with a robust gap.
DIFFERENT = (("m3", "f2"), ("f2", "m3"), ("f2", "m1"), ("m1", "f2"))


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder()


@pytest.fixture(scope="module")
def embeddings(encoder, speak) -> dict[tuple[str, str], np.ndarray]:
    """``(voice, "ref"|"syn")`` -> stacked embeddings of that voice's sentences."""
    out = {}
    for voice in ("m3", "f2", "m1"):
        out[voice, "ref"] = encoder.embed_many(speak(text, voice) for text in REFERENCES)
        out[voice, "syn"] = encoder.embed_many(speak(text, voice) for text in SYNTHESES)
    return out


def test_embeddings_are_unit_vectors_and_deterministic(encoder, speak, embeddings) -> None:
    refs = embeddings["m3", "ref"]
    assert refs.shape == (3, 256) and refs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(refs, axis=1), 1.0, atol=1e-5)
    again = encoder.embed(*speak(REFERENCES[0], "m3"))
    np.testing.assert_allclose(again, refs[0], atol=1e-6)


def test_same_voice_scores_higher_than_a_different_voice(embeddings) -> None:
    same = {
        voice: speaker_similarity(embeddings[voice, "syn"], embeddings[voice, "ref"])
        for voice in ("m3", "f2", "m1")
    }
    for voice, scores in same.items():
        assert scores.shape == (len(SYNTHESES),)
        assert np.all(scores >= 0.8), (voice, scores)
    for syn_voice, ref_voice in DIFFERENT:
        other = speaker_similarity(embeddings[syn_voice, "syn"], embeddings[ref_voice, "ref"])
        assert np.all(other <= 0.75), (syn_voice, ref_voice, other)
        # per synthesis: its own speaker beats the other one by a clear margin
        assert np.all(same[syn_voice] - other >= 0.1), (syn_voice, ref_voice)


def test_similarity_is_against_the_reference_centroid() -> None:
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    refs = np.stack([e1, e2])
    np.testing.assert_allclose(speaker_centroid(refs), (e1 + e2) / np.sqrt(2))
    # centroid cosine is 1/sqrt(2); a mean of pairwise cosines would be 0.5
    assert speaker_similarity(e1, refs)[0] == pytest.approx(1 / np.sqrt(2))
    assert speaker_similarity(np.stack([e1, 2 * e1]), e1).tolist() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize(
    ("synth", "refs"),
    [(np.ones(4), np.ones(3)), (np.zeros(3), np.ones(3)), (np.ones(3), np.zeros((0, 3)))],
)
def test_bad_embeddings_are_rejected(synth, refs) -> None:
    with pytest.raises(EvaluationError) as info:
        speaker_similarity(synth, refs)
    assert info.value.reason == "invalid_embeddings"


def test_silent_and_short_audio_are_rejected(encoder, speak) -> None:
    with pytest.raises(EvaluationError) as info:
        encoder.embed(np.zeros(32_000, dtype=np.float32), 16_000)
    assert info.value.reason == "silent_audio"
    audio, rate = speak(SYNTHESES[0], "m3")
    with pytest.raises(EvaluationError) as info:
        encoder.embed(audio[int(0.5 * rate) : int(0.7 * rate)], rate)  # 0.2 s of speech
    assert info.value.reason == "audio_too_short"
    # long enough overall, but mostly silence: too little voiced speech after VAD trimming
    padded = np.concatenate([np.zeros(2 * rate, np.float32), audio[: int(0.4 * rate)]])
    with pytest.raises(EvaluationError) as info:
        encoder.embed(padded, rate)
    assert info.value.reason == "audio_too_short"
    assert "voiced" in info.value.detail
