"""Deliberately broken or awkward input files, each with the outcome the pipeline owes it.

Real uploads contain empty files, truncated copies, renamed images, NaNs from buggy
exporters, clipped gain, 6-channel studio masters, odd file names and transcripts in
legacy encodings. Every case here is small (except the optional long recording) and
carries a valid transcript unless the case is *about* the transcript, so its expected
outcome does not depend on the order in which the pipeline checks things.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from voicemill.corpus import outcomes
from voicemill.corpus.espeak import EspeakVoice
from voicemill.corpus.formats import AudioFormat, resample, write_audio
from voicemill.corpus.outcomes import ExpectedOutcome
from voicemill.corpus.recording import Recording, compose_recording, speak, write_transcript
from voicemill.corpus.sentences import SentenceDeck
from voicemill.corpus.truth import recording_truth, write_truth

DEFAULT_VOICE = EspeakVoice("en", "en-us", "m1", 150, 50)
LONG_RECORDING = "long_recording.flac"

_PLAIN_WAV = AudioFormat("wav_pcm16", "wav", 22050, 1, "WAV", "PCM_16")
_FLOAT_WAV = AudioFormat("wav_float32", "wav", 22050, 1, "WAV", "FLOAT")
_HIRES_WAV = AudioFormat("wav_96k_6ch_pcm24", "wav", 96000, 6, "WAVEX", "PCM_24")
# Transcripts of the encoding case, in a legacy encoding that is not valid UTF-8.
_LEGACY_TRANSCRIPT = {
    "en": ("The café on the corner serves crème brûlée.", "cp1252"),
    "zh": ("我们明天上午九点在学校门口见面。", "gbk"),
}


@dataclass
class _Writer:
    """Shared state of one ``write_bad_inputs`` call: where, which voice, which randomness."""

    folder: Path
    voice: EspeakVoice
    rng: np.random.Generator
    deck: SentenceDeck
    truth_dir: Path | None

    def recording(self, n_sentences: int) -> Recording:
        return compose_recording(self.deck.deal(n_sentences), self.voice, self.rng)

    def transcript(self, stem: str, recording: Recording) -> None:
        write_transcript(self.folder / f"{stem}.txt", [s.text for s in recording.sentences])

    def speech_file(
        self,
        name: str,
        recording: Recording,
        fmt: AudioFormat = _PLAIN_WAV,
        *,
        audio: np.ndarray | None = None,
    ) -> None:
        """Write ``recording`` (or a damaged copy, ``audio``) as ``name``, plus its truth."""
        samples = recording.audio if audio is None else audio
        write_audio(self.folder / name, samples, recording.sample_rate, fmt)
        if self.truth_dir is not None:
            truth = recording_truth(
                recording, self.voice, file=name, sample_rate=fmt.sample_rate, channels=fmt.channels
            )
            write_truth(truth, self.truth_dir)


def _encoded(recording: Recording, container: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, recording.audio, recording.sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _zero_bytes(w: _Writer) -> ExpectedOutcome:
    (w.folder / "zero_bytes.wav").write_bytes(b"")
    w.transcript("zero_bytes", w.recording(1))
    return outcomes.EMPTY_FILE


def _truncated(w: _Writer) -> ExpectedOutcome:
    """A copy that stopped inside the 44-byte WAV header."""
    rec = w.recording(1)
    (w.folder / "truncated.wav").write_bytes(_encoded(rec, "WAV", "PCM_16")[:30])
    w.transcript("truncated", rec)
    return outcomes.CORRUPT_AUDIO


def _truncated_flac(w: _Writer) -> ExpectedOutcome:
    """A FLAC whose header promises more frames than the cut-off stream holds."""
    rec = w.recording(2)
    data = _encoded(rec, "FLAC", "PCM_16")
    (w.folder / "truncated_flac.flac").write_bytes(data[: int(len(data) * 0.4)])
    w.transcript("truncated_flac", rec)
    return outcomes.CORRUPT_AUDIO


def _not_audio(w: _Writer) -> ExpectedOutcome:
    """A real (1x1 pixel) PNG renamed to .wav, as happens with drag-and-drop uploads."""
    (w.folder / "not_audio.wav").write_bytes(tiny_png())
    w.transcript("not_audio", w.recording(1))
    return outcomes.NOT_AUDIO


def _one_sample(w: _Writer) -> ExpectedOutcome:
    sf.write(w.folder / "one_sample.wav", np.array([0.25], dtype=np.float32), 16000, "PCM_16")
    w.transcript("one_sample", w.recording(1))
    return outcomes.TOO_SHORT


def _silence(w: _Writer) -> ExpectedOutcome:
    sf.write(w.folder / "silence.wav", np.zeros(10 * 16000, dtype=np.float32), 16000, "PCM_16")
    w.transcript("silence", w.recording(1))
    return outcomes.SILENT


def _nan_inf(w: _Writer) -> ExpectedOutcome:
    """Float WAV with NaN and ±inf inside the speech, as from a buggy DSP export."""
    rec = w.recording(2)
    audio = rec.audio.copy()
    for sentence, bad in zip(rec.sentences, (np.nan, np.inf), strict=False):
        middle = (sentence.start + sentence.end) // 2
        audio[middle : middle + 5] = bad
    audio[rec.sentences[-1].end - 10] = -np.inf
    w.speech_file("nan_inf.wav", rec, _FLOAT_WAV, audio=audio)
    w.transcript("nan_inf", rec)
    return outcomes.NON_FINITE_SAMPLES


def _clipped(w: _Writer) -> ExpectedOutcome:
    rec = w.recording(2)
    w.speech_file("clipped.wav", rec, audio=np.clip(rec.audio * 20.0, -1.0, 1.0))
    w.transcript("clipped", rec)
    return outcomes.HEAVY_CLIPPING


def _hires(w: _Writer) -> ExpectedOutcome:
    """96 kHz / 24-bit / 6-channel WAVE_FORMAT_EXTENSIBLE; speech in L, R and C only."""
    rec = w.recording(1)
    w.speech_file("hires_96k_6ch.wav", rec, _HIRES_WAV)
    w.transcript("hires_96k_6ch", rec)
    return outcomes.SUCCESS


def _plain_speech(stem: str) -> Callable[[_Writer], ExpectedOutcome]:
    def write(w: _Writer) -> ExpectedOutcome:
        rec = w.recording(2)
        w.speech_file(f"{stem}.wav", rec)
        w.transcript(stem, rec)
        return outcomes.SUCCESS

    write.__doc__ = f"Ordinary speech under an awkward file name: {stem!r}."
    return write


def _bad_encoding(w: _Writer) -> ExpectedOutcome:
    text, encoding = _LEGACY_TRANSCRIPT[w.voice.language]
    rec = compose_recording([text], w.voice, w.rng)
    payload = f"{text}\n".encode(encoding)
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:  # pragma: no cover - guards the fixture itself
        raise AssertionError(f"{encoding} transcript is accidentally valid UTF-8")
    w.speech_file("bad_encoding.wav", rec)
    (w.folder / "bad_encoding.txt").write_bytes(payload)
    return outcomes.TRANSCRIPT_NOT_UTF8


def _empty_transcript(w: _Writer) -> ExpectedOutcome:
    w.speech_file("empty_transcript.wav", w.recording(2))
    (w.folder / "empty_transcript.txt").write_text("  \n\t \n", encoding="utf-8")
    return outcomes.TRANSCRIPT_EMPTY


def _wrong_transcript(w: _Writer) -> ExpectedOutcome:
    rec = w.recording(3)
    spoken = frozenset(s.text for s in rec.sentences)
    w.speech_file("wrong_transcript.wav", rec)
    write_transcript(w.folder / "wrong_transcript.txt", w.deck.deal(3, avoid=spoken))
    return outcomes.TRANSCRIPT_MISMATCH


_CASES: dict[str, Callable[[_Writer], ExpectedOutcome]] = {
    "zero_bytes.wav": _zero_bytes,
    "truncated.wav": _truncated,
    "truncated_flac.flac": _truncated_flac,
    "not_audio.wav": _not_audio,
    "one_sample.wav": _one_sample,
    "silence.wav": _silence,
    "nan_inf.wav": _nan_inf,
    "clipped.wav": _clipped,
    "hires_96k_6ch.wav": _hires,
    "name with spaces.wav": _plain_speech("name with spaces"),
    "ünïcödé_名字.wav": _plain_speech("ünïcödé_名字"),
    "bad_encoding.wav": _bad_encoding,
    "empty_transcript.wav": _empty_transcript,
    "wrong_transcript.wav": _wrong_transcript,
}
BAD_INPUT_CASES: tuple[str, ...] = tuple(_CASES)


def write_bad_inputs(
    folder: Path,
    *,
    long_hours: float | None = None,
    voice: EspeakVoice = DEFAULT_VOICE,
    cases: Iterable[str] | None = None,
    seed: int = 0,
    truth_dir: Path | None = None,
) -> dict[str, ExpectedOutcome]:
    """Write the bad-input cases into ``folder``; returns audio file name -> expected outcome.

    ``cases`` picks a subset of ``BAD_INPUT_CASES`` (default: all), so a demo can spread
    them over several datasets; ``voice`` lets them sound like the dataset's speaker.
    ``long_hours`` adds ``long_recording.flac`` of that length. ``truth_dir`` receives
    ground truth for the files that hold decodable speech.
    """
    chosen = BAD_INPUT_CASES if cases is None else tuple(cases)
    unknown = sorted(set(chosen) - set(_CASES))
    if unknown:
        raise ValueError(f"unknown bad-input cases {unknown}; known: {BAD_INPUT_CASES}")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writer = _Writer(folder, voice, rng, SentenceDeck(voice.language, rng), truth_dir)
    expected = {name: _CASES[name](writer) for name in chosen}
    if long_hours is not None:
        write_long_recording(
            folder / LONG_RECORDING, long_hours, seed=seed, with_transcript=True, voice=voice
        )
        expected[LONG_RECORDING] = outcomes.SUCCESS
    return expected


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x80")  # filter byte + one pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class LongRecordingInfo:
    path: Path
    duration_s: float
    sample_rate: int
    n_sentences: int
    transcript_path: Path | None


_LONG_SENTENCES = 6
_BLOCK_EDGE_S = 0.5


def write_long_recording(
    path: Path,
    hours: float,
    sample_rate: int = 16000,
    seed: int = 0,
    with_transcript: bool = False,
    *,
    voice: EspeakVoice = DEFAULT_VOICE,
) -> LongRecordingInfo:
    """Write ``hours`` of read speech to ``path`` in bounded memory.

    A handful of sentences is synthesized once and then tiled in a seeded order with
    0.8-2.0 s pauses and slight level changes, streamed to disk block by block, so a
    two-hour benchmark file costs seconds and a few hundred kilobytes of memory.
    The file lasts exactly ``round(hours * 3600 * sample_rate)`` samples; with
    ``with_transcript`` the sentences go, in order, to ``path.with_suffix('.txt')``.
    """
    if hours <= 0:
        raise ValueError("hours must be positive")
    rng = np.random.default_rng(seed)
    texts = SentenceDeck(voice.language, rng).deal(_LONG_SENTENCES)
    clips = [resample(*speak(text, voice), sample_rate) for text in texts]
    clips = [clip * (0.5 / float(np.max(np.abs(clip)))) for clip in clips]

    total = round(hours * 3600 * sample_rate)
    edge = round(_BLOCK_EDGE_S * sample_rate)
    transcript_path = path.with_suffix(".txt") if with_transcript else None
    path.parent.mkdir(parents=True, exist_ok=True)
    n_sentences = 0
    with ExitStack() as stack:
        out = stack.enter_context(sf.SoundFile(path, "w", sample_rate, 1, subtype="PCM_16"))
        transcript = (
            stack.enter_context(transcript_path.open("w", encoding="utf-8"))
            if transcript_path
            else None
        )
        written = _write_zeros(out, min(edge, total))
        order: list[int] = []
        while True:
            if not order:
                order = [int(i) for i in rng.permutation(len(clips))]
            index = order.pop()
            clip = clips[index]
            if written + len(clip) + edge > total:
                break
            out.write((clip * rng.uniform(0.7, 1.0)).astype(np.float32))
            if transcript is not None:
                transcript.write(f"{texts[index]}\n")
            written += len(clip)
            n_sentences += 1
            pause = round(rng.uniform(0.8, 2.0) * sample_rate)
            written += _write_zeros(out, min(pause, total - written))
        _write_zeros(out, total - written)
    return LongRecordingInfo(path, total / sample_rate, sample_rate, n_sentences, transcript_path)


def _write_zeros(out: sf.SoundFile, n: int) -> int:
    out.write(np.zeros(max(n, 0), dtype=np.float32))
    return max(n, 0)
