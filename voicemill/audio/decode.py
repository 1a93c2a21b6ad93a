"""Decode any common audio file block by block, in bounded memory.

Library choice: **soundfile** (libsndfile 1.2) reads WAV/RF64/W64, FLAC, Ogg Vorbis,
Ogg Opus, MP3 and AIFF natively, at any integer or float bit depth and rate, and
can seek and stream, so it is the first choice. Anything libsndfile cannot open
(AAC/M4A, WMA, video containers, ...) falls back to an **ffmpeg** subprocess that
streams 32-bit float PCM on a pipe, probed first with ffprobe. Both paths yield
float32 ``(frames, channels)`` blocks; no path ever holds the whole file.

Failure reasons (``AudioError.reason``):

- ``file_not_found``: the path does not exist.
- ``not_a_regular_file``: a FIFO, socket, device or folder; never opened (a FIFO
  would block the reader forever).
- ``empty_file``: zero bytes.
- ``file_too_large`` / ``too_long``: over :class:`AudioLimits` (bytes on disk, or
  duration by the header or while decoding).
- ``probe_timeout`` / ``decode_timeout``: ffprobe or ffmpeg ran past their limit.
- ``not_audio``: neither decoder recognises it and it does not start like an
  audio container (text, JPEG, random bytes renamed ``.wav``).
- ``corrupt_audio``: it starts like an audio container (RIFF/WAVE, fLaC, OggS,
  ID3/MPEG sync, ftyp, ...) but cannot be opened, or decoding fails midway (a
  FLAC cut or scrambled after its header), or the decoder delivers clearly
  fewer frames than the header declares.
- ``too_short``: fewer than ``min_duration_s`` seconds (default 0.1 s).
- ``non_finite_samples``: NaN or infinity in a float file, found while streaming.

ffprobe and ffmpeg run with ``-protocol_whitelist file``: a playlist or concat file
(HLS ``.m3u8`` renamed ``.m4a``) cannot make them open network addresses, and each
has a wall-clock limit.

Decision on truncated PCM WAVs: when a WAV's data chunk claims more bytes than
the file holds, libsndfile already reports the frames that really exist, and
those decode exactly; we accept them (a partial upload of a long recording
still holds good speech) and only the duration check applies. A WAV cut
*inside* its header has no usable data and is ``corrupt_audio``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from voicemill.audio.errors import AudioError

if TYPE_CHECKING:
    from voicemill.settings import Settings

DEFAULT_MIN_DURATION_S = 0.1
# ffprobe scores an extension-only guess very low (a text file named .flac gets 1).
_MIN_FFPROBE_SCORE = 25
# Headers of compressed formats may be a little optimistic; more than this
# shortfall means the stream was cut or lost sync.
_SHORTFALL_TOLERANCE_S = 0.05
_SHORTFALL_TOLERANCE_RATIO = 0.005


@dataclass(frozen=True)
class AudioLimits:
    """Bounds on one input file (settings ``VOICEMILL_AUDIO_*``)."""

    max_bytes: int = 2048 * 1024 * 1024
    max_duration_s: float = 4 * 3600.0
    probe_timeout_s: float = 30.0
    decode_timeout_s: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AudioLimits:
        from voicemill.settings import get_settings

        settings = settings or get_settings()
        return cls(
            max_bytes=settings.audio_max_file_mb * 1024 * 1024,
            max_duration_s=settings.audio_max_duration_s,
            probe_timeout_s=settings.audio_probe_timeout_s,
            decode_timeout_s=settings.audio_decode_timeout_s,
        )


_PROTOCOLS = ["-protocol_whitelist", "file"]


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header (ffmpeg path: from the container)."""

    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    container: str
    subtype: str | None


def probe(
    path: str | os.PathLike[str],
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
    limits: AudioLimits | None = None,
) -> AudioInfo:
    """Read a file's format without decoding its samples; raises ``AudioError``."""
    info, _backend = _probe(Path(path), limits or AudioLimits.from_settings())
    _check_duration(info.frames, info.sample_rate, min_duration_s, Path(path))
    return info


def open_blocks(
    path: str | os.PathLike[str],
    block_seconds: float = 30.0,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
    limits: AudioLimits | None = None,
) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """Probe eagerly, then return the info and a lazy block iterator.

    Callers that need the rate and channel count before the first block (the
    standardizer) use this to probe once; errors found while streaming are
    raised by the iterator.
    """
    if block_seconds <= 0:
        raise ValueError("block_seconds must be positive")
    p = Path(path)
    limits = limits or AudioLimits.from_settings()
    info, backend = _probe(p, limits)
    _check_duration(info.frames, info.sample_rate, min_duration_s, p)
    block_frames = max(1, round(block_seconds * info.sample_rate))
    if backend == "soundfile":
        blocks = _soundfile_blocks(p, info, block_frames)
    else:
        blocks = _ffmpeg_blocks(p, info, block_frames, limits)
    return info, _checked(blocks, info, min_duration_s, p, limits)


def iter_blocks(
    path: str | os.PathLike[str],
    block_seconds: float = 30.0,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
) -> Iterator[np.ndarray]:
    """Yield float32 ``(n, channels)`` blocks of about ``block_seconds`` each."""
    _info, blocks = open_blocks(path, block_seconds, min_duration_s)
    yield from blocks


# --- probing -----------------------------------------------------------------


def _probe(path: Path, limits: AudioLimits) -> tuple[AudioInfo, str]:
    info, backend = _probe_format(path, limits)
    if info.duration_s > limits.max_duration_s:
        raise AudioError(
            "too_long",
            f"{path}: {info.duration_s:.0f} s of audio (at most {limits.max_duration_s:.0f} s; "
            "VOICEMILL_AUDIO_MAX_DURATION_S)",
        )
    return info, backend


def _probe_format(path: Path, limits: AudioLimits) -> tuple[AudioInfo, str]:
    try:
        st = path.stat()  # links are followed; inbox links are refused at ingestion
    except FileNotFoundError:
        raise AudioError("file_not_found", f"{path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise AudioError("not_a_regular_file", f"{path} is not a regular file; not opened")
    if st.st_size == 0:
        raise AudioError("empty_file", f"{path} is 0 bytes")
    if st.st_size > limits.max_bytes:
        raise AudioError(
            "file_too_large",
            f"{path}: {st.st_size} bytes (at most {limits.max_bytes}; VOICEMILL_AUDIO_MAX_FILE_MB)",
        )
    try:
        sf_info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        sf_error = str(exc)
    else:
        info = AudioInfo(
            sample_rate=int(sf_info.samplerate),
            channels=int(sf_info.channels),
            frames=int(sf_info.frames),
            duration_s=sf_info.frames / sf_info.samplerate if sf_info.samplerate else 0.0,
            container=str(sf_info.format).lower(),
            subtype=sf_info.subtype or None,
        )
        if info.sample_rate <= 0 or info.channels <= 0:
            raise AudioError("corrupt_audio", f"{path}: header gives rate/channels of 0")
        return info, "soundfile"

    ff_info = _ffprobe(path, limits)
    if ff_info is not None:
        return ff_info, "ffmpeg"
    if _looks_like_audio(path):
        raise AudioError("corrupt_audio", f"{path}: audio header but undecodable ({sf_error})")
    raise AudioError("not_audio", f"{path}: not a recognised audio format ({sf_error})")


def _ffprobe(path: Path, limits: AudioLimits) -> AudioInfo | None:
    """Probe with ffprobe; ``None`` when it finds no decodable audio stream."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    try:
        proc = _run_ffprobe(ffprobe, path, limits.probe_timeout_s)
    except subprocess.TimeoutExpired:
        raise AudioError(
            "probe_timeout", f"{path}: ffprobe ran past {limits.probe_timeout_s:g} s"
        ) from None
    if proc.returncode != 0:
        return None
    try:
        doc = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        return None
    fmt = doc.get("format") or {}
    streams = doc.get("streams") or []
    if not streams or int(fmt.get("probe_score", 0)) < _MIN_FFPROBE_SCORE:
        return None
    stream = streams[0]
    rate = int(stream.get("sample_rate") or 0)
    channels = int(stream.get("channels") or 0)
    if rate <= 0 or channels <= 0:
        return None
    duration = _float_or_none(stream.get("duration")) or _float_or_none(fmt.get("duration"))
    if duration is None:
        frames = _count_ffmpeg_frames(path, rate, channels, limits)
    else:
        frames = round(duration * rate)
    return AudioInfo(
        sample_rate=rate,
        channels=channels,
        frames=frames,
        duration_s=frames / rate,
        container=str(fmt.get("format_name", "unknown")),
        subtype=stream.get("codec_name"),
    )


def _run_ffprobe(ffprobe: str, path: Path, timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            ffprobe,
            *_PROTOCOLS,
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "format=format_name,probe_score,duration:"
            "stream=codec_name,sample_rate,channels,duration,duration_ts,time_base",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=timeout_s,
    )


def _count_ffmpeg_frames(path: Path, rate: int, channels: int, limits: AudioLimits) -> int:
    """Count frames by streaming when the container states no duration (raw ADTS...)."""
    probe_info = AudioInfo(rate, channels, 0, 0.0, "unknown", None)
    frames = 0
    for block in _ffmpeg_blocks(path, probe_info, rate * 30, limits):
        frames += len(block)
        if frames > limits.max_duration_s * rate:
            break  # too long already: _probe says so
    return frames


def _float_or_none(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


_AUDIO_MAGIC = (
    b"RIFF",
    b"RF64",
    b"riff",
    b"BW64",
    b"FORM",
    b"fLaC",
    b"OggS",
    b"ID3",
    b".snd",
    b"caff",
    b"wvpk",
    b"MAC ",
    b"#!AMR",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",
)


def _looks_like_audio(path: Path) -> bool:
    """Whether the first bytes are an audio container's signature."""
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(b"RIFF") and len(head) >= 12 and head[8:12] != b"WAVE":
        return False  # AVI, WEBP, ...: RIFF but not audio
    if head.startswith(_AUDIO_MAGIC) or head[4:8] == b"ftyp":
        return True
    # MPEG audio / ADTS frame sync: 11 set bits, version bits not "reserved".
    return (
        len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x18) != 0x08
    )


# --- streaming ---------------------------------------------------------------


def _soundfile_blocks(path: Path, info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    delivered = 0
    try:
        with sf.SoundFile(str(path)) as fh:
            while True:
                block = fh.read(block_frames, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                delivered += len(block)
                yield block
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            "corrupt_audio", f"{path}: decoding failed after {delivered} frames ({exc})"
        ) from exc
    _check_shortfall(delivered, info, path)


def _ffmpeg_blocks(
    path: Path, info: AudioInfo, block_frames: int, limits: AudioLimits
) -> Iterator[np.ndarray]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError("not_audio", f"{path}: needs ffmpeg to decode, which is not installed")
    cmd = [
        ffmpeg,
        "-nostdin",
        *_PROTOCOLS,
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "-ac",
        str(info.channels),
        "-ar",
        str(info.sample_rate),
        "pipe:1",
    ]
    bytes_per_frame = 4 * info.channels
    delivered = 0
    # stderr goes to a file: a chatty decoder must not block on a full pipe.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        # The watchdog kills a decoder stuck (or fed a stream without end) past the limit;
        # the blocked read then sees EOF.
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(limits.decode_timeout_s, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            pending = b""
            while True:
                chunk = proc.stdout.read(block_frames * bytes_per_frame)
                if not chunk:
                    break
                chunk = pending + chunk
                usable = len(chunk) - len(chunk) % bytes_per_frame
                pending = chunk[usable:]
                if usable:
                    block = np.frombuffer(chunk[:usable], dtype="<f4").reshape(-1, info.channels)
                    delivered += len(block)
                    yield block.astype(np.float32, copy=True)
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if timed_out.is_set():
            raise AudioError(
                "decode_timeout",
                f"{path}: ffmpeg ran past {limits.decode_timeout_s:g} s after {delivered} frames",
            )
        if returncode != 0:
            err.seek(0)
            message = err.read().decode("utf-8", "replace").strip().splitlines()
            tail = message[-1] if message else f"exit status {returncode}"
            raise AudioError(
                "corrupt_audio", f"{path}: ffmpeg failed after {delivered} frames ({tail})"
            )
    if info.frames:
        _check_shortfall(delivered, info, path)


def _checked(
    blocks: Iterator[np.ndarray],
    info: AudioInfo,
    min_duration_s: float,
    path: Path,
    limits: AudioLimits,
) -> Iterator[np.ndarray]:
    """Reject non-finite samples as they stream and re-check the real duration."""
    delivered = 0
    for block in blocks:
        if delivered + len(block) > limits.max_duration_s * info.sample_rate:
            raise AudioError(
                "too_long",
                f"{path}: more than {limits.max_duration_s:.0f} s of audio while decoding "
                "(the header said less)",
            )
        finite = np.isfinite(block)
        if not finite.all():
            bad = delivered + int(np.argmin(finite.all(axis=1)))
            raise AudioError(
                "non_finite_samples",
                f"{path}: NaN/inf sample at frame {bad} ({bad / info.sample_rate:.3f} s)",
            )
        delivered += len(block)
        yield block
    _check_duration(delivered, info.sample_rate, min_duration_s, path)


def _check_duration(frames: int, rate: int, min_duration_s: float, path: Path) -> None:
    if frames < max(1, round(min_duration_s * rate)):
        raise AudioError(
            "too_short",
            f"{path}: {frames} frames ({frames / rate:.3f} s) < minimum {min_duration_s} s",
        )


def _check_shortfall(delivered: int, info: AudioInfo, path: Path) -> None:
    tolerance = max(
        _SHORTFALL_TOLERANCE_S * info.sample_rate, _SHORTFALL_TOLERANCE_RATIO * info.frames
    )
    if info.frames - delivered > tolerance:
        raise AudioError(
            "corrupt_audio",
            f"{path}: decoded {delivered} of the {info.frames} frames the header declares",
        )
