"""Distributing a recording's sentences over its VAD segments."""

from __future__ import annotations

import numpy as np
import pytest
from speech_testkit import energy_segments, join_with_gaps, speak, trim_silence

from voicemill.align.assign import Assignment, assign_sentences, speech_units
from voicemill.align.base import AlignmentError

SENTENCES = [
    "The morning train was late again today.",
    "She packed three books, a small lamp and a warm blanket for the journey.",
    "Nobody expected it.",
    "We will meet at the old library after lunch and walk to the river together.",
]
RATE = 0.2  # seconds per syllable in the synthetic recordings


def _layout(durations: list[float], gap: float = 0.6) -> list[tuple[float, float]]:
    segments, t = [], 0.0
    for d in durations:
        segments.append((t, t + d))
        t += d + gap
    return segments


def _expected(i: int) -> float:
    return speech_units(SENTENCES[i], "en") * RATE


def _mapping(assignments: list[Assignment]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(a.segment_indices, a.sentence_indices) for a in assignments]


def _assert_partition(assignments: list[Assignment], n_sent: int, n_seg: int) -> None:
    sentences = [i for a in assignments for i in a.sentence_indices]
    segments = [k for a in assignments for k in a.segment_indices]
    assert sentences == list(range(n_sent))
    assert segments == list(range(n_seg))
    assert all(0.0 <= a.duration_fit <= 1.0 for a in assignments)


def test_speech_units() -> None:
    assert speech_units("Nobody expected it.", "en") == 7  # no-bo-dy ex-pec-ted it
    assert speech_units("I paid $5", "en") == speech_units("I paid five dollars", "en")
    assert speech_units("我有3个苹果。", "zh") == 6


def test_one_sentence_per_segment() -> None:
    segments = _layout([_expected(i) * f for i, f in enumerate([1.1, 0.9, 1.05, 0.95])])
    result = assign_sentences(SENTENCES, "en", segments)

    assert _mapping(result) == [((0,), (0,)), ((1,), (1,)), ((2,), (2,)), ((3,), (3,))]
    assert result[1].text == SENTENCES[1]
    assert all(a.duration_fit > 0.8 for a in result)


def test_sentence_split_by_vad_is_reunited() -> None:
    d1 = _expected(1)
    segments = [(0.0, _expected(0))]
    t = _expected(0) + 0.6
    segments += [(t, t + 0.55 * d1), (t + 0.55 * d1 + 0.25, t + d1 + 0.25)]  # 250 ms pause
    t = segments[-1][1] + 0.6
    for i in (2, 3):
        segments.append((t, t + _expected(i)))
        t += _expected(i) + 0.6

    result = assign_sentences(SENTENCES, "en", segments)

    assert _mapping(result) == [((0,), (0,)), ((1, 2), (1,)), ((3,), (2,)), ((4,), (3,))]
    _assert_partition(result, 4, 5)


def test_sentences_run_together_share_a_segment() -> None:
    segments = _layout([_expected(0), _expected(1) + _expected(2) + 0.1, _expected(3)])
    result = assign_sentences(SENTENCES, "en", segments)

    assert _mapping(result) == [((0,), (0,)), ((1,), (1, 2)), ((2,), (3,))]
    assert result[1].text == f"{SENTENCES[1]} {SENTENCES[2]}"
    assert result[1].duration_fit > 0.9


def test_spurious_short_segment_gets_no_text() -> None:
    durations = [_expected(0), _expected(1), 0.25, _expected(2), _expected(3)]  # a cough
    result = assign_sentences(SENTENCES, "en", _layout(durations))

    assert _mapping(result) == [((0,), (0,)), ((1,), (1,)), ((2,), ()), ((3,), (2,)), ((4,), (3,))]
    assert result[2].text == "" and result[2].duration_fit == 0.0


def test_mixed_problems_with_rate_noise() -> None:
    rng = np.random.default_rng(3)
    sentences = SENTENCES * 3
    durations: list[float] = []
    truth: list[int] = []  # sentence id per segment (-1 = noise)
    for i, sentence in enumerate(sentences):
        d = speech_units(sentence, "en") * RATE * rng.uniform(0.85, 1.15)
        if i == 4:  # split
            durations += [d * 0.6, d * 0.4]
            truth += [i, i]
        else:
            durations.append(d)
            truth.append(i)
        if i == 7:
            durations.append(0.2)
            truth.append(-1)
    result = assign_sentences(sentences, "en", _layout(durations, gap=0.5))

    _assert_partition(result, len(sentences), len(durations))
    for a in result:
        for k in a.segment_indices:
            assert truth[k] in (a.sentence_indices or (-1,))


def test_mandarin_uses_characters() -> None:
    sentences = ["今天天气很好。", "我们去公园散步吧，好吗？", "好。"]
    durations = [len(s) * 0.25 for s in ("今天天气很好", "我们去公园散步吧好吗", "好")]
    result = assign_sentences(sentences, "zh", _layout(durations))
    assert _mapping(result) == [((0,), (0,)), ((1,), (1,)), ((2,), (2,))]


def test_real_espeak_recording_with_energy_segmenter() -> None:
    # Sentences 1 and 2 are read with only 200 ms between them (one VAD segment), and a
    # 250 ms noise burst (a cough) sits alone between sentences 2 and 3.
    clips = [trim_silence(np.array(speak(s))) for s in SENTENCES]
    cough = np.random.default_rng(0).normal(0, 0.1, 4000).astype(np.float32)
    clips.insert(3, cough)
    audio, spans = join_with_gaps(clips, [0.8, 0.2, 0.7, 0.7, 0.0], lead_s=0.5)
    segments = energy_segments(audio, min_silence_s=0.35)
    assert len(segments) == 4

    result = assign_sentences(SENTENCES, "en", segments)

    assert _mapping(result) == [((0,), (0,)), ((1,), (1, 2)), ((2,), ()), ((3,), (3,))]
    sentence_spans = spans[:3] + spans[4:]
    for a in result:
        if a.sentence_indices:
            start = segments[a.segment_indices[0]][0]
            end = segments[a.segment_indices[-1]][1]
            assert abs(start - sentence_spans[a.sentence_indices[0]][0]) < 0.05
            assert abs(end - sentence_spans[a.sentence_indices[-1]][1]) < 0.05


@pytest.mark.parametrize(
    ("sentences", "segments", "reason"),
    [
        ([], [(0.0, 1.0)], "empty_transcript"),
        (["Hello there."], [], "no_segments"),
        (["Hi."] * 7, [(0.0, 1.0), (2.0, 3.0)], "assignment_infeasible"),
        (["Hi.", "Yo."], [(0.0, 1.0), (0.5, 2.0)], "invalid_segments"),
        (["Hi."], [(1.0, 1.0)], "invalid_segments"),
    ],
)
def test_bad_input_raises_coded_errors(
    sentences: list[str], segments: list[tuple[float, float]], reason: str
) -> None:
    with pytest.raises(AlignmentError) as err:
        assign_sentences(sentences, "en", segments)
    assert err.value.reason == reason
