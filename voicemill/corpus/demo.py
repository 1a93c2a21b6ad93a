"""The synthetic demo corpus: several espeak speakers reading long recordings.

Shaped like real uploads: one folder per speaker, minute-long recordings with pauses,
a transcript per recording, mixed formats and sample rates, noisy takes and, unless
disabled, broken files mixed in so the demo shows quarantine while the rest proceeds.
Ground truth goes to ``_truth/`` (ignored by ingestion) and a summary with the
expected outcome of every file to ``corpus.json``.
"""

from __future__ import annotations

import itertools
import shutil
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, computed_field

from voicemill.corpus import outcomes
from voicemill.corpus.bad_inputs import BAD_INPUT_CASES, write_bad_inputs
from voicemill.corpus.espeak import EspeakVoice
from voicemill.corpus.formats import DEMO_FORMATS, AudioFormat, write_audio
from voicemill.corpus.outcomes import ExpectedOutcome
from voicemill.corpus.recording import Recording, add_noise, compose_recording, write_transcript
from voicemill.corpus.sentences import SentenceDeck
from voicemill.corpus.truth import TRUTH_DIR, recording_truth, write_truth

SUMMARY_FILE = "corpus.json"
MILD_SNR_DB = 30.0
HARSH_SNR_DB = 3.0


@dataclass(frozen=True)
class DemoSpeaker:
    dataset_id: str
    voice: EspeakVoice


DEMO_SPEAKERS: tuple[DemoSpeaker, ...] = (
    DemoSpeaker("demo_en_m3", EspeakVoice("en", "en-us", "m3", speed_wpm=150, pitch=45)),
    DemoSpeaker("demo_en_f2", EspeakVoice("en", "en-gb", "f2", speed_wpm=170, pitch=70)),
    DemoSpeaker("demo_en_m7", EspeakVoice("en", "en-us", "m7", speed_wpm=128, pitch=30)),
    DemoSpeaker("demo_zh_f4", EspeakVoice("zh", "cmn-latn-pinyin", "f4", speed_wpm=145, pitch=62)),
    DemoSpeaker("demo_zh_m2", EspeakVoice("zh", "cmn-latn-pinyin", "m2", speed_wpm=135, pitch=38)),
)
HARSH_NOISE_DATASET = "demo_en_m7"


FileKind = Literal["recording", "noisy", "bad_input"]


class FileEntry(BaseModel):
    """One audio file of a dataset; paths are relative to the corpus root."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: FileKind
    expected: ExpectedOutcome
    transcript: str | None = None
    truth: str | None = None
    format: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    snr_db: float | None = None


class DatasetEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset_id: str  # also the folder name and the speaker
    language: str
    voice: str
    speed_wpm: int
    pitch: int
    files: list[FileEntry]


class CorpusSummary(BaseModel):
    """What ``generate_demo_corpus`` wrote; serialized as ``corpus.json``."""

    model_config = ConfigDict(frozen=True)

    seed: int
    recordings_per_speaker: int
    sentences_per_recording: int
    datasets: list[DatasetEntry]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def speakers(self) -> list[str]:
        return [d.dataset_id for d in self.datasets]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def languages(self) -> list[str]:
        return sorted({d.language for d in self.datasets})

    @computed_field  # type: ignore[prop-decorator]
    @property
    def audio_seconds(self) -> float:
        """Length of the recordings (clean and noisy), not counting bad inputs."""
        files = (f for d in self.datasets for f in d.files if f.kind != "bad_input")
        return round(sum(f.duration_s or 0.0 for f in files), 3)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expected_outcomes(self) -> dict[str, ExpectedOutcome]:
        """``"<dataset_id>/<file name>"`` -> what the pipeline must do with that file."""
        return {f"{d.dataset_id}/{f.name}": f.expected for d in self.datasets for f in d.files}


def read_corpus_summary(out_dir: Path) -> CorpusSummary:
    return CorpusSummary.model_validate_json((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))


def generate_demo_corpus(
    out_dir: Path,
    *,
    recordings_per_speaker: int = 3,
    sentences_per_recording: int = 8,
    seed: int = 0,
    include_bad_inputs: bool = True,
    overwrite: bool = False,
    speakers: Collection[str] | None = None,
) -> CorpusSummary:
    """Write the demo corpus to ``out_dir`` (see the module docstring); deterministic per seed.

    ``speakers`` keeps only those dataset ids of ``DEMO_SPEAKERS`` (default: all five),
    for tests that need a smaller corpus; the bad inputs are then dealt over the English
    speakers among them (none if there is none), and formats cycle over the kept ones.
    A kept speaker reads the same sentences as in the full corpus for the same seed.
    Refuses a non-empty ``out_dir`` unless ``overwrite`` and it holds an earlier corpus.
    """
    if recordings_per_speaker < 1 or sentences_per_recording < 1:
        raise ValueError("need at least one recording per speaker and one sentence each")
    chosen = _chosen_speakers(speakers)
    _prepare(out_dir, overwrite)
    formats = itertools.cycle(DEMO_FORMATS)  # in turn across datasets, so each one is used
    size = (recordings_per_speaker, sentences_per_recording)
    datasets = [_write_dataset(out_dir, s, formats, seed, *size) for s in chosen]
    if include_bad_inputs:
        datasets = _add_bad_inputs(out_dir, datasets, seed)
    summary = CorpusSummary(
        seed=seed,
        recordings_per_speaker=recordings_per_speaker,
        sentences_per_recording=sentences_per_recording,
        datasets=datasets,
    )
    (out_dir / SUMMARY_FILE).write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return summary


def _chosen_speakers(speakers: Collection[str] | None) -> tuple[DemoSpeaker, ...]:
    if speakers is None:
        return DEMO_SPEAKERS
    if isinstance(speakers, str):  # a lone id would otherwise be read letter by letter
        raise TypeError("speakers must be a collection of dataset ids, not one string")
    known = [s.dataset_id for s in DEMO_SPEAKERS]
    unknown = sorted(set(speakers) - set(known))
    if unknown or not speakers:
        raise ValueError(f"speakers must name some of {known}; unknown: {unknown}")
    return tuple(s for s in DEMO_SPEAKERS if s.dataset_id in speakers)


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (overwrite and (out_dir / SUMMARY_FILE).is_file()):
            raise FileExistsError(
                f"{out_dir} is not empty; pass overwrite=True to replace an earlier corpus"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _rng(seed: int, dataset_id: str, stream: int) -> np.random.Generator:
    # crc32, not hash(): str hashes are salted per process, which breaks determinism.
    return np.random.default_rng([seed, zlib.crc32(dataset_id.encode()), stream])


def _write_dataset(
    out_dir: Path,
    speaker: DemoSpeaker,
    formats: Iterator[AudioFormat],
    seed: int,
    n_recordings: int,
    n_sentences: int,
) -> DatasetEntry:
    deck = SentenceDeck(speaker.voice.language, _rng(seed, speaker.dataset_id, 0))
    rng = _rng(seed, speaker.dataset_id, 1)
    plan: list[tuple[str, FileKind, float | None, ExpectedOutcome]] = [
        (f"rec{i:02d}", "recording", None, outcomes.SUCCESS) for i in range(1, n_recordings + 1)
    ]
    if speaker.voice.language == "en":
        plan.append((f"rec{n_recordings + 1:02d}_noisy", "noisy", MILD_SNR_DB, outcomes.SUCCESS))
    if speaker.dataset_id == HARSH_NOISE_DATASET:
        plan.append(
            (f"rec{n_recordings + 2:02d}_very_noisy", "noisy", HARSH_SNR_DB, outcomes.TOO_NOISY)
        )
    files = []
    for stem, kind, snr_db, expected in plan:
        recording = compose_recording(deck.deal(n_sentences), speaker.voice, rng)
        if snr_db is not None:
            recording = add_noise(recording, snr_db, rng)
        fmt = next(formats)
        files.append(
            _write_recording(out_dir, speaker, stem, recording, fmt, kind, snr_db, expected)
        )
    return DatasetEntry(
        dataset_id=speaker.dataset_id,
        language=speaker.voice.language,
        voice=speaker.voice.spec,
        speed_wpm=speaker.voice.speed_wpm,
        pitch=speaker.voice.pitch,
        files=files,
    )


def _write_recording(
    out_dir: Path,
    speaker: DemoSpeaker,
    stem: str,
    recording: Recording,
    fmt: AudioFormat,
    kind: FileKind,
    snr_db: float | None,
    expected: ExpectedOutcome,
) -> FileEntry:
    folder = out_dir / speaker.dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{stem}.{fmt.extension}"
    write_audio(folder / name, recording.audio, recording.sample_rate, fmt)
    write_transcript(folder / f"{stem}.txt", [s.text for s in recording.sentences])
    truth = recording_truth(
        recording,
        speaker.voice,
        file=name,
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        snr_db=snr_db,
    )
    truth_path = write_truth(truth, out_dir / TRUTH_DIR / speaker.dataset_id)
    return FileEntry(
        name=name,
        kind=kind,
        expected=expected,
        transcript=f"{speaker.dataset_id}/{stem}.txt",
        truth=truth_path.relative_to(out_dir).as_posix(),
        format=fmt.name,
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        duration_s=truth.duration_s,
        snr_db=snr_db,
    )


def _add_bad_inputs(out_dir: Path, datasets: list[DatasetEntry], seed: int) -> list[DatasetEntry]:
    """Deal the bad-input cases round-robin over the English datasets, in their voices."""
    english = [d.dataset_id for d in datasets if d.language == "en"]
    voices = {s.dataset_id: s.voice for s in DEMO_SPEAKERS}
    updated = []
    for dataset in datasets:
        if dataset.dataset_id not in english:
            updated.append(dataset)
            continue
        position = english.index(dataset.dataset_id)
        cases = BAD_INPUT_CASES[position :: len(english)]
        folder = out_dir / dataset.dataset_id
        truth_dir = out_dir / TRUTH_DIR / dataset.dataset_id
        expected = write_bad_inputs(
            folder,
            voice=voices[dataset.dataset_id],
            cases=cases,
            seed=int(_rng(seed, dataset.dataset_id, 2).integers(2**31)),
            truth_dir=truth_dir,
        )
        extra = [_bad_input_entry(out_dir, dataset.dataset_id, n, e) for n, e in expected.items()]
        updated.append(dataset.model_copy(update={"files": [*dataset.files, *extra]}))
    return updated


def _bad_input_entry(
    out_dir: Path, dataset_id: str, name: str, expected: ExpectedOutcome
) -> FileEntry:
    stem = Path(name).stem
    transcript = out_dir / dataset_id / f"{stem}.txt"
    truth = out_dir / TRUTH_DIR / dataset_id / f"{stem}.json"
    return FileEntry(
        name=name,
        kind="bad_input",
        expected=expected,
        transcript=transcript.relative_to(out_dir).as_posix() if transcript.exists() else None,
        truth=truth.relative_to(out_dir).as_posix() if truth.exists() else None,
    )
