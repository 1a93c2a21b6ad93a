"""Ground truth written next to the synthetic corpus, for checking the pipeline.

One JSON per audio file under ``_truth/<dataset_id>/<stem>.json``: the sentences in
order with the true start and end of their speech, so segmentation and alignment can
be scored against facts rather than against another model.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from voicemill.corpus.espeak import EspeakVoice
from voicemill.corpus.recording import Recording

TRUTH_DIR = "_truth"


class SentenceTruth(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str  # the transcript line
    spoken: str  # what espeak read (numbered pinyin for Mandarin)
    start_s: float
    end_s: float


class RecordingTruth(BaseModel):
    """Facts about one generated audio file; times are in seconds from its start."""

    model_config = ConfigDict(frozen=True)

    file: str
    language: str
    voice: str  # espeak voice spec, e.g. "en-us+m3"
    speed_wpm: int
    pitch: int
    sample_rate: int  # of the file as written
    channels: int
    duration_s: float
    snr_db: float | None  # None: no noise added
    sentences: list[SentenceTruth]


def recording_truth(
    recording: Recording,
    voice: EspeakVoice,
    *,
    file: str,
    sample_rate: int,
    channels: int,
    snr_db: float | None = None,
) -> RecordingTruth:
    """Truth for ``recording`` as written to ``file`` (possibly at another sample rate)."""
    sr = recording.sample_rate
    return RecordingTruth(
        file=file,
        language=voice.language,
        voice=voice.spec,
        speed_wpm=voice.speed_wpm,
        pitch=voice.pitch,
        sample_rate=sample_rate,
        channels=channels,
        duration_s=round(recording.duration_s, 4),
        snr_db=snr_db,
        sentences=[
            SentenceTruth(
                text=s.text,
                spoken=s.spoken,
                start_s=round(s.start / sr, 4),
                end_s=round(s.end / sr, 4),
            )
            for s in recording.sentences
        ],
    )


def write_truth(truth: RecordingTruth, truth_dir: Path) -> Path:
    truth_dir.mkdir(parents=True, exist_ok=True)
    path = truth_dir / f"{Path(truth.file).stem}.json"
    path.write_text(truth.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def read_truth(path: Path) -> RecordingTruth:
    return RecordingTruth.model_validate_json(path.read_text(encoding="utf-8"))
