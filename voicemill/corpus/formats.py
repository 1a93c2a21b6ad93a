"""The file formats the demo corpus is spread over, to exercise every decoding path.

Real uploads arrive as whatever the recorder produced: 16-bit WAV at odd rates,
24-bit stereo, FLAC, MP3, Ogg Vorbis, float WAV. Audio is resampled with soxr and
written with soundfile; MP3 falls back to ffmpeg where libsndfile lacks MPEG support.

The same corpus must come out byte for byte on every run (utterance ids hash file
bytes, and the held-out split hashes those ids), so two writers that stamp each file are
avoided: libsndfile's float WAV carries a PEAK chunk with the write time (scipy writes
plain float WAV), and its Ogg streams get a random serial number (ffmpeg's bitexact
mode numbers streams from 0 instead).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# Per-channel gains for multichannel copies of a mono signal: not identical, as with
# two real microphones, but all in phase so a mono downmix keeps the speech.
_CHANNEL_GAINS = (1.0, 0.85, 0.7, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class AudioFormat:
    """A container/codec/rate/channel combination that a recording is written in."""

    name: str
    extension: str
    sample_rate: int
    channels: int
    container: str  # soundfile format, e.g. "WAV", "FLAC", "MP3"
    subtype: str  # soundfile subtype, e.g. "PCM_16", "VORBIS"


DEMO_FORMATS: tuple[AudioFormat, ...] = (
    AudioFormat("wav_pcm16", "wav", 22050, 1, "WAV", "PCM_16"),
    AudioFormat("wav_pcm24_stereo", "wav", 44100, 2, "WAV", "PCM_24"),
    AudioFormat("flac", "flac", 48000, 1, "FLAC", "PCM_16"),
    AudioFormat("mp3", "mp3", 44100, 1, "MP3", "MPEG_LAYER_III"),
    AudioFormat("ogg_vorbis", "ogg", 32000, 1, "OGG", "VORBIS"),
    AudioFormat("wav_float32", "wav", 16000, 1, "WAV", "FLOAT"),
)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling (soxr); a no-op when the rates match."""
    if from_rate == to_rate:
        return audio
    return soxr.resample(audio, from_rate, to_rate, quality="HQ").astype(np.float32)


def spread_channels(mono: np.ndarray, channels: int) -> np.ndarray:
    """(frames,) -> (frames, channels); speech in the first three channels at most."""
    if channels == 1:
        return mono
    if channels > len(_CHANNEL_GAINS):
        raise ValueError(f"at most {len(_CHANNEL_GAINS)} channels supported")
    gains = np.asarray(_CHANNEL_GAINS[:channels], dtype=np.float32)
    return mono[:, None] * gains[None, :]


def write_audio(path: Path, mono: np.ndarray, sample_rate: int, fmt: AudioFormat) -> None:
    """Write mono float audio at ``sample_rate`` to ``path`` in format ``fmt``."""
    data = spread_channels(resample(mono, sample_rate, fmt.sample_rate), fmt.channels)
    if fmt.container == "MP3" and not soundfile_writes_mp3():
        _write_with_ffmpeg(path, data, fmt.sample_rate, ["-codec:a", "libmp3lame", "-q:a", "4"])
    elif fmt.container == "OGG" and shutil.which("ffmpeg"):
        _write_with_ffmpeg(path, data, fmt.sample_rate, ["-codec:a", "libvorbis", "-q:a", "4"])
    elif (fmt.container, fmt.subtype) == ("WAV", "FLOAT"):
        from scipy.io import wavfile

        wavfile.write(path, fmt.sample_rate, np.asarray(data, dtype=np.float32))
    else:
        sf.write(path, data, fmt.sample_rate, format=fmt.container, subtype=fmt.subtype)


def soundfile_writes_mp3() -> bool:
    """libsndfile >= 1.1 can encode MP3 (via LAME) when it was built with it."""
    return "MP3" in sf.available_formats()


def _write_with_ffmpeg(path: Path, data: np.ndarray, sample_rate: int, codec: list[str]) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError(f"writing {path.suffix} needs ffmpeg (or libsndfile with MP3)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        sf.write(wav, data, sample_rate, subtype="FLOAT")
        subprocess.run(
            [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
             "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
             *codec, str(path)],
            check=True,
        )  # fmt: skip
