from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.corpus import ExpectedOutcome, write_bad_inputs
from voicemill.corpus.bad_inputs import BAD_INPUT_CASES, LONG_RECORDING
from voicemill.corpus.sentences import sentence_pool
from voicemill.corpus.truth import RecordingTruth, read_truth

BadInputs = tuple[Path, dict[str, ExpectedOutcome]]

# The contract with the pipeline, spelled out independently of the implementation.
EXPECTED = {
    "zero_bytes.wav": ("decode", "empty_file"),
    "truncated.wav": ("decode", "corrupt_audio"),
    "truncated_flac.flac": ("decode", "corrupt_audio"),
    "not_audio.wav": ("decode", "not_audio"),
    "one_sample.wav": ("decode", "too_short"),
    "silence.wav": ("standardize", "silent"),
    "nan_inf.wav": ("decode", "non_finite_samples"),
    "clipped.wav": ("standardize", "heavy_clipping"),
    "hires_96k_6ch.wav": (None, None),
    "name with spaces.wav": (None, None),
    "ünïcödé_名字.wav": (None, None),
    "bad_encoding.wav": ("transcript", "transcript_not_utf8"),
    "empty_transcript.wav": ("transcript", "transcript_empty"),
    "wrong_transcript.wav": ("align", "transcript_mismatch"),
}


def _truth(folder: Path, name: str) -> RecordingTruth:
    return read_truth(folder.parent / "_truth" / f"{Path(name).stem}.json")


def test_returns_the_agreed_stage_and_reason_for_every_case(bad_inputs: BadInputs) -> None:
    folder, expected = bad_inputs
    assert set(expected) == set(EXPECTED) == set(BAD_INPUT_CASES)
    for name, (stage, reason) in EXPECTED.items():
        assert (folder / name).is_file(), name
        assert expected[name].reason == reason, name
        if reason is not None:
            assert expected[name].stage == stage, name
        assert expected[name].succeeds == (reason is None)


def test_broken_containers_fail_to_decode(bad_inputs: BadInputs) -> None:
    folder, _ = bad_inputs
    assert (folder / "zero_bytes.wav").stat().st_size == 0
    truncated = (folder / "truncated.wav").read_bytes()
    assert len(truncated) < 44 and truncated.startswith(b"RIFF")
    assert (folder / "truncated_flac.flac").read_bytes().startswith(b"fLaC")
    assert sf.info(folder / "truncated_flac.flac").frames > 0  # the header still promises audio
    assert (folder / "not_audio.wav").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    for name in ("zero_bytes.wav", "truncated.wav", "truncated_flac.flac", "not_audio.wav"):
        with pytest.raises(sf.LibsndfileError):
            sf.read(folder / name)


def test_degenerate_but_decodable_audio(bad_inputs: BadInputs) -> None:
    folder, _ = bad_inputs
    assert sf.info(folder / "one_sample.wav").frames == 1
    silence, sr = sf.read(folder / "silence.wav")
    assert len(silence) == 10 * sr and not silence.any()
    clipped, _ = sf.read(folder / "clipped.wav")
    assert np.mean(np.abs(clipped) >= 0.999) > 0.05


def test_non_finite_samples_sit_inside_the_speech(bad_inputs: BadInputs) -> None:
    folder, _ = bad_inputs
    assert sf.info(folder / "nan_inf.wav").subtype == "FLOAT"
    audio, sr = sf.read(folder / "nan_inf.wav", dtype="float32")
    assert np.isnan(audio).any() and np.isposinf(audio).any() and np.isneginf(audio).any()
    spans = [(s.start_s * sr, s.end_s * sr) for s in _truth(folder, "nan_inf.wav").sentences]
    for index in np.flatnonzero(~np.isfinite(audio)):
        assert any(start <= index < end for start, end in spans)


def test_hires_multichannel_header_and_speech_channels(bad_inputs: BadInputs) -> None:
    folder, _ = bad_inputs
    info = sf.info(folder / "hires_96k_6ch.wav")
    assert (info.samplerate, info.channels, info.subtype) == (96000, 6, "PCM_24")
    audio, _ = sf.read(folder / "hires_96k_6ch.wav")
    peaks = np.abs(audio).max(axis=0)
    assert (peaks[:3] > 0.05).all() and (peaks[3:] == 0).all()


def test_transcripts_of_successful_and_mismatched_files(bad_inputs: BadInputs) -> None:
    folder, _ = bad_inputs
    for name in ("hires_96k_6ch.wav", "name with spaces.wav", "ünïcödé_名字.wav", "clipped.wav"):
        lines = (folder / name).with_suffix(".txt").read_text(encoding="utf-8").splitlines()
        assert lines == [s.text for s in _truth(folder, name).sentences], name
        assert sf.read(folder / name)[0].size > 0

    wrong = (folder / "wrong_transcript.txt").read_text(encoding="utf-8").splitlines()
    spoken = {s.text for s in _truth(folder, "wrong_transcript.wav").sentences}
    assert wrong and spoken and not set(wrong) & spoken
    assert set(wrong) <= set(sentence_pool("en"))


def test_broken_transcripts(bad_inputs: BadInputs) -> None:
    folder, _ = bad_inputs
    raw = (folder / "bad_encoding.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("cp1252").strip() == _truth(folder, "bad_encoding.wav").sentences[0].text
    empty = (folder / "empty_transcript.txt").read_text(encoding="utf-8")
    assert empty and not empty.strip()


def test_subset_long_recording_and_unknown_cases(tmp_path: Path) -> None:
    expected = write_bad_inputs(tmp_path, cases=["silence.wav"], long_hours=0.002)
    assert set(expected) == {"silence.wav", LONG_RECORDING}
    assert expected[LONG_RECORDING].succeeds
    assert sf.info(tmp_path / LONG_RECORDING).duration == pytest.approx(7.2)
    assert (tmp_path / LONG_RECORDING).with_suffix(".txt").is_file()
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["silence.wav"]
    with pytest.raises(ValueError, match="unknown"):
        write_bad_inputs(tmp_path, cases=["nope.wav"])
