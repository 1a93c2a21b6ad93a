from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.corpus import CorpusSummary, generate_demo_corpus, read_corpus_summary
from voicemill.corpus.bad_inputs import BAD_INPUT_CASES
from voicemill.corpus.demo import HARSH_SNR_DB, MILD_SNR_DB
from voicemill.corpus.formats import DEMO_FORMATS
from voicemill.corpus.sentences import sentence_pool
from voicemill.corpus.truth import read_truth

Corpus = tuple[Path, CorpusSummary]


def _size(summary: CorpusSummary) -> dict[str, int]:
    return {
        "recordings_per_speaker": summary.recordings_per_speaker,
        "sentences_per_recording": summary.sentences_per_recording,
    }


def _recordings(summary: CorpusSummary):
    for dataset in summary.datasets:
        for entry in dataset.files:
            if entry.kind != "bad_input":
                yield dataset, entry


def test_layout_has_a_folder_per_speaker_and_truth_aside(small_corpus: Corpus) -> None:
    root, summary = small_corpus
    dataset_dirs = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != "_")
    assert dataset_dirs == sorted(summary.speakers)
    assert (root / "_truth").is_dir()
    assert read_corpus_summary(root) == summary
    for dataset in summary.datasets:
        for entry in dataset.files:
            assert (root / dataset.dataset_id / entry.name).is_file()
            for relative in (entry.transcript, entry.truth):
                assert relative is None or (root / relative).is_file()
    for _, entry in _recordings(summary):
        assert entry.transcript and entry.truth


def test_at_least_five_distinct_speakers_in_english_and_mandarin(small_corpus: Corpus) -> None:
    _, summary = small_corpus
    languages = [d.language for d in summary.datasets]
    assert languages.count("en") >= 3
    assert languages.count("zh") >= 2
    assert summary.languages == ["en", "zh"]
    voices = {(d.voice, d.speed_wpm, d.pitch) for d in summary.datasets}
    assert len(voices) == len(summary.datasets) >= 5


def test_every_promised_format_is_present_and_readable(small_corpus: Corpus) -> None:
    root, summary = small_corpus
    by_format = {e.format: (d, e) for d, e in _recordings(summary)}
    assert set(by_format) == {f.name for f in DEMO_FORMATS}
    for fmt in DEMO_FORMATS:
        dataset, entry = by_format[fmt.name]
        path = root / dataset.dataset_id / entry.name
        info = sf.info(path)
        assert (info.format, info.subtype) == (fmt.container, fmt.subtype)
        assert (info.samplerate, info.channels) == (fmt.sample_rate, fmt.channels)
        audio, _ = sf.read(path, dtype="float32")
        assert np.isfinite(audio).all()
        assert 0.05 < np.abs(audio).max() < 1.0


def test_transcripts_list_the_truth_sentences_from_the_pool(small_corpus: Corpus) -> None:
    root, summary = small_corpus
    for dataset, entry in _recordings(summary):
        truth = read_truth(root / entry.truth)
        lines = (root / entry.transcript).read_text(encoding="utf-8").splitlines()
        assert lines == [s.text for s in truth.sentences]
        assert len(lines) == summary.sentences_per_recording
        assert set(lines) <= set(sentence_pool(dataset.language))
        assert truth.language == dataset.language


def test_truth_spans_are_ordered_inside_the_file_and_paused(small_corpus: Corpus) -> None:
    root, summary = small_corpus
    for dataset, entry in _recordings(summary):
        truth = read_truth(root / entry.truth)
        info = sf.info(root / dataset.dataset_id / entry.name)
        assert truth.sample_rate == info.samplerate
        assert truth.duration_s == pytest.approx(info.duration, abs=2e-3)
        spans = [(s.start_s, s.end_s) for s in truth.sentences]
        assert spans[0][0] >= 0.4 and spans[-1][1] <= truth.duration_s - 0.4
        for start, end in spans:
            assert end - start > 0.5
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert 0.8 - 0.01 <= start - end <= 2.0 + 0.01


def _span_mask(n: int, sample_rate: int, truth) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s in truth.sentences:
        mask[round(s.start_s * sample_rate) : round(s.end_s * sample_rate)] = True
    return mask


def _assert_spans_are_tight(mono: np.ndarray, sample_rate: int, truth) -> None:
    """Speech starts and ends at the span edges: espeak's own silence was trimmed."""
    edge = round(0.01 * sample_rate)
    for s in truth.sentences:
        span = mono[round(s.start_s * sample_rate) : round(s.end_s * sample_rate)]
        floor = np.sqrt(np.mean(span**2)) * 10 ** (-50 / 20)
        for part in (span[:edge], span[-edge:]):
            assert np.sqrt(np.mean(part**2)) > floor, (truth.file, s.text)


def test_truth_spans_hold_the_speech_and_noise_matches_its_snr(small_corpus: Corpus) -> None:
    root, summary = small_corpus
    for dataset, entry in _recordings(summary):
        truth = read_truth(root / entry.truth)
        audio, sr = sf.read(root / dataset.dataset_id / entry.name, dtype="float64")
        mono = audio if audio.ndim == 1 else audio[:, 0]
        mask = _span_mask(len(mono), sr, truth)
        inside, outside = np.mean(mono[mask] ** 2), max(np.mean(mono[~mask] ** 2), 1e-20)
        ratio_db = 10 * np.log10(inside / outside)
        if truth.snr_db is None:
            assert ratio_db > 45, entry.name  # silence between sentences, even after a codec
            _assert_spans_are_tight(mono, sr, truth)
        else:
            # Inside the spans is speech plus noise: (S + N) / N.
            assert ratio_db == pytest.approx(10 * np.log10(10 ** (truth.snr_db / 10) + 1), abs=1.5)


def test_noisy_takes_mild_for_each_english_speaker_and_one_harsh(small_corpus: Corpus) -> None:
    _, summary = small_corpus
    noisy = [(d, e) for d, e in _recordings(summary) if e.kind == "noisy"]
    mild = [d.dataset_id for d, e in noisy if e.snr_db == MILD_SNR_DB]
    harsh = [e for _, e in noisy if e.snr_db == HARSH_SNR_DB]
    assert sorted(mild) == sorted(d.dataset_id for d in summary.datasets if d.language == "en")
    assert len(harsh) == 1
    assert not harsh[0].expected.succeeds
    assert all(e.expected.succeeds for _, e in noisy if e.snr_db == MILD_SNR_DB)


def test_bad_inputs_are_dealt_once_over_the_english_datasets(small_corpus: Corpus) -> None:
    root, summary = small_corpus
    placed = [
        (d.language, e.name) for d in summary.datasets for e in d.files if e.kind == "bad_input"
    ]
    assert sorted(name for _, name in placed) == sorted(BAD_INPUT_CASES)
    assert {language for language, _ in placed} == {"en"}
    outcomes = summary.expected_outcomes
    assert sum(not o.succeeds for o in outcomes.values()) >= 12
    on_disk = json.loads((root / "corpus.json").read_text(encoding="utf-8"))["expected_outcomes"]
    assert on_disk["demo_en_m3/rec01.wav"] == {"stage": "manifest", "reason": None}


def test_same_seed_same_bytes_other_seed_other_corpus(
    small_corpus: Corpus, tmp_path: Path
) -> None:
    root, summary = small_corpus
    # Another interpreter with another str-hash salt: nothing may depend on hash().
    script = (
        "import sys; from pathlib import Path; from voicemill.corpus import generate_demo_corpus;"
        f"generate_demo_corpus(Path(sys.argv[1]), seed={summary.seed}, "
        f"recordings_per_speaker={summary.recordings_per_speaker}, "
        f"sentences_per_recording={summary.sentences_per_recording})"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "again")], check=True, env=env)
    again = read_corpus_summary(tmp_path / "again")
    assert again == summary
    # Byte for byte, not just the samples: utterance ids hash file bytes, so a stamped
    # header (WAV PEAK chunk, random Ogg serial) would move the held-out split.
    for dataset in summary.datasets:
        for entry in dataset.files:
            name = f"{dataset.dataset_id}/{entry.name}"
            assert (root / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    for truth in (root / "_truth").rglob("*.json"):
        assert truth.read_bytes() == (tmp_path / "again" / truth.relative_to(root)).read_bytes()

    other = generate_demo_corpus(
        tmp_path / "other", seed=summary.seed + 1, include_bad_inputs=False, **_size(summary)
    )
    assert not any(e.kind == "bad_input" for d in other.datasets for e in d.files)
    texts = {
        e.name: read_truth(tmp_path / "other" / e.truth).sentences for _, e in _recordings(other)
    }
    original = {e.name: read_truth(root / e.truth).sentences for _, e in _recordings(summary)}
    assert texts != original


def test_refuses_to_write_over_foreign_files_but_replaces_a_corpus(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_demo_corpus(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"

    out = tmp_path / "corpus"
    tiny = {"recordings_per_speaker": 1, "sentences_per_recording": 1, "include_bad_inputs": False}
    generate_demo_corpus(out, **tiny)
    with pytest.raises(FileExistsError):
        generate_demo_corpus(out, **tiny)
    (out / "stale.wav").write_bytes(b"")
    generate_demo_corpus(out, overwrite=True, **tiny)
    assert not (out / "stale.wav").exists()


def test_a_speaker_subset_reads_what_it_reads_in_the_full_corpus(
    small_corpus: Corpus, tmp_path: Path
) -> None:
    root, summary = small_corpus
    kept = ("demo_zh_m2", "demo_en_m7")
    subset = generate_demo_corpus(
        tmp_path / "subset", seed=summary.seed, speakers=kept, **_size(summary)
    )
    assert subset.speakers == ["demo_en_m7", "demo_zh_m2"]  # in DEMO_SPEAKERS order
    full = {d.dataset_id: d for d in summary.datasets}
    for dataset in subset.datasets:
        assert dataset.model_dump(exclude={"files"}) == full[dataset.dataset_id].model_dump(
            exclude={"files"}
        )
        entry = next(e for e in dataset.files if e.name.startswith("rec01."))
        same = next(e for e in full[dataset.dataset_id].files if e.name.startswith("rec01."))
        sentences = read_truth(tmp_path / "subset" / entry.truth).sentences
        assert [s.text for s in sentences] == [
            s.text for s in read_truth(root / same.truth).sentences
        ]
    english = [e.name for e in subset.datasets[0].files if e.kind == "bad_input"]
    assert sorted(english) == sorted(BAD_INPUT_CASES)  # all dealt to the one English speaker
    assert not any(e.kind == "bad_input" for e in subset.datasets[1].files)
    with pytest.raises(ValueError, match="demo_xx"):
        generate_demo_corpus(tmp_path / "unknown", speakers=["demo_en_m7", "demo_xx"])
    with pytest.raises(TypeError):
        generate_demo_corpus(tmp_path / "string", speakers="demo_en_m7")
    assert not (tmp_path / "unknown").exists() and not (tmp_path / "string").exists()
