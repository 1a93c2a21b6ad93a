"""Encode synthesized speech into delivery formats, as whole files or as a stream.

The one encoder of the project: the real-time speech service (OpenAI-compatible
``response_format``) streams through :class:`StreamEncoder`, campaign delivery
(:mod:`voicemill.campaign.postprocess`) writes whole files with :func:`encode_audio`.

Libraries: **soundfile** (libsndfile) writes WAV and FLAC, **PyAV** (FFmpeg) the lossy
codecs (libmp3lame, libopus in Ogg, FFmpeg's native AAC in ADTS), **soxr** resamples.
All three are imported inside functions: this module sits on the Dagster definitions'
import chain, which must stay at numpy.

Per format (``output_rate`` is the rate actually encoded, the input's unless noted):

- ``wav``  audio/wav: 16-bit PCM. Streamed with unknown sizes; same samples as whole.
- ``pcm``  audio/pcm: raw s16le mono, no header. Streamed bytes equal the whole file.
- ``flac`` audio/flac: 16-bit. Whole files only (see :class:`StreamEncoder`).
- ``mp3``  audio/mpeg: libmp3lame 64 kbit/s CBR; nearest MPEG rate >= input (8-48 kHz).
- ``opus`` audio/ogg: libopus 48 kbit/s VBR in Ogg; nearest of 8/12/16/24/48 kHz >= input.
- ``aac``  audio/aac: FFmpeg AAC 64 kbit/s in ADTS; nearest of 7.35-96 kHz >= input.

Lengths after decoding (what the tests hold to): WAV, PCM, FLAC and Opus decode to the
encoded length (Ogg Opus signals pre-skip and end trim; off by at most a sample where
resampled; Opus decoders always output 48 kHz, the header's rate is informational per
RFC 7845). A whole MP3 file carries a LAME/Xing tag with encoder delay and padding, so
it decodes at most one frame (1152 samples) long; a *streamed* MP3 cannot go back to
write that tag and decodes up to 1105 samples of encoder delay plus two frames long
(frames are 1152 samples at 32-48 kHz, 576 below). ADTS has no field for AAC's
1024-sample priming: whole or streamed, AAC decodes 1024 to 2047 samples long.

Determinism: the same input gives byte-identical output, within and across processes.
FFmpeg runs with ``bitexact`` (container and codec), which fixes the Ogg serial number
at 0 and keeps version strings out of ID3 and OpusTags; libsndfile writes no dates
into WAV or FLAC.
"""

from __future__ import annotations

import contextlib
import io
import struct
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

import numpy as np


class AudioFormat(StrEnum):
    """A delivery format, named as in OpenAI's ``response_format``."""

    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    WAV = "wav"
    PCM = "pcm"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]

    @property
    def extension(self) -> str:
        return self.value

    @property
    def streamable(self) -> bool:
        """Whether :class:`StreamEncoder` accepts it (all but FLAC)."""
        return self is not AudioFormat.FLAC


_CONTENT_TYPES: dict[AudioFormat, str] = {
    AudioFormat.MP3: "audio/mpeg",
    AudioFormat.OPUS: "audio/ogg",  # Ogg Opus, as OpenAI serves it
    AudioFormat.AAC: "audio/aac",  # ADTS
    AudioFormat.FLAC: "audio/flac",
    AudioFormat.WAV: "audio/wav",
    AudioFormat.PCM: "audio/pcm",  # raw s16le mono at the requested rate
}

# Rates each lossy encoder accepts, ascending (libmp3lame, libopus, FFmpeg aac).
_MPEG_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_RATES: dict[AudioFormat, tuple[int, ...]] = {
    AudioFormat.MP3: _MPEG_RATES,
    AudioFormat.OPUS: (8000, 12000, 16000, 24000, 48000),
    AudioFormat.AAC: (7350, *_MPEG_RATES, 64000, 88200, 96000),
}
_MAX_RATE = 768_000
_INT16_SCALE = 32767.0
_WAV_UNKNOWN = 0xFFFFFFFF


@dataclass(frozen=True)
class _Codec:
    muxer: str  # FFmpeg muxer (demuxer for reading back)
    demuxer: str
    codec: str
    sample_format: str
    bit_rate: int
    stream_options: tuple[tuple[str, str], ...] = ()  # muxer options when streaming


_CODECS: dict[AudioFormat, _Codec] = {
    AudioFormat.MP3: _Codec("mp3", "mp3", "libmp3lame", "fltp", 64_000),
    # The Ogg muxer closes a page once it spans page_duration (default 1 s) and only
    # then writes it; 100 ms pages cost ~2 kbit/s and bound the extra stream latency.
    AudioFormat.OPUS: _Codec(
        "ogg", "ogg", "libopus", "flt", 48_000, (("page_duration", "100000"),)
    ),
    AudioFormat.AAC: _Codec("adts", "aac", "aac", "fltp", 64_000),
}


def supported_rates(fmt: AudioFormat | str) -> tuple[int, ...] | None:
    """The rates ``fmt`` can carry, ascending; None for any rate (WAV, FLAC, PCM)."""
    return _RATES.get(AudioFormat(fmt))


def output_rate(fmt: AudioFormat | str, rate: int) -> int:
    """The rate audio at ``rate`` is encoded at: the nearest supported rate >= ``rate``
    (the highest one above them all); unchanged for WAV, FLAC and PCM."""
    _check_rate(rate)
    rates = supported_rates(fmt)
    if rates is None:
        return rate
    return next((r for r in rates if r >= rate), rates[-1])


def encode_audio(audio: np.ndarray, rate: int, fmt: AudioFormat | str) -> bytes:
    """Whole-file bytes of mono float audio in [-1, 1] at ``rate``.

    Resamples (soxr HQ) to :func:`output_rate` first where the codec needs it, clips to
    [-1, 1], and refuses empty or non-finite audio with ``ValueError``.
    """
    fmt = AudioFormat(fmt)
    x = _samples(audio)
    if x.size == 0:
        raise ValueError("cannot encode empty audio")
    out_rate = output_rate(fmt, rate)
    if out_rate != rate:
        import soxr

        x = soxr.resample(x, rate, out_rate, quality="HQ").astype(np.float32)
    if fmt is AudioFormat.PCM:
        return _to_int16(x).tobytes()
    if fmt in (AudioFormat.WAV, AudioFormat.FLAC):
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, _to_int16(x), out_rate, format=fmt.value.upper(), subtype="PCM_16")
        return buffer.getvalue()
    buffer = io.BytesIO()  # seekable: the MP3 muxer goes back for its LAME/Xing tag
    writer = _PyAVWriter(fmt, out_rate, buffer, streaming=False)
    try:
        writer.write(x)
        writer.finish()
    finally:
        writer.close()
    return buffer.getvalue()


class StreamEncoder:
    """Incremental encoding: send audio as soon as each piece is synthesized.

    ``push`` returns whatever bytes are ready (possibly none: codecs work in frames and
    have look-ahead), ``finish`` the rest; their concatenation is one valid file.
    WAV goes out as a 44-byte header with unknown sizes (0xFFFFFFFF, as streaming
    servers send it) and then PCM; PCM as raw s16le. MP3, Opus and AAC are encoded
    by PyAV in full codec frames (the remainder waits for the next push) into an
    unseekable in-memory output; Ogg pages close every 100 ms.

    FLAC is refused (``ValueError``): FFmpeg can only write STREAMINFO before the
    audio, without the total length and MD5 it fills in by seeking back at the end,
    and libsndfile (soundfile) then refuses to read the stream.

    Empty chunks are accepted (``b""``); a stream that ends without any samples, NaN or
    infinite samples and pushes after ``finish`` raise ``ValueError``. Call ``close``
    (or use ``with``) to drop an abandoned stream.
    """

    def __init__(self, fmt: AudioFormat | str, rate: int) -> None:
        self.format = AudioFormat(fmt)
        if not self.format.streamable:
            raise ValueError(
                f"{self.format} cannot be streamed: its header needs the total length and "
                "MD5 only known at the end; use encode_audio for a whole file"
            )
        self.input_rate = rate
        self.rate = output_rate(self.format, rate)
        self.samples = 0  # encoded so far, at self.rate
        self._finished = False
        self._header_sent = False
        self._resampler: Any = None
        if self.rate != rate:
            import soxr

            self._resampler = soxr.ResampleStream(rate, self.rate, 1, "float32", quality="HQ")
        self._sink: _Sink | None = None
        self._writer: _PyAVWriter | None = None
        if self.format in _CODECS:
            self._sink = _Sink()
            self._writer = _PyAVWriter(self.format, self.rate, self._sink, streaming=True)

    @property
    def content_type(self) -> str:
        return self.format.content_type

    def push(self, chunk: np.ndarray) -> bytes:
        """Encode ``chunk`` (mono float at the input rate); the bytes ready so far."""
        self._check_open()
        x = _samples(chunk)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x, last=False)
        return self._encode(x)

    def finish(self) -> bytes:
        """The remaining bytes: buffered samples, encoder flush and trailer."""
        self._check_open()
        tail = np.zeros(0, np.float32)
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        out = self._encode(tail)
        self._finished = True
        if self.samples == 0:
            self.close()
            raise ValueError("cannot encode empty audio: no samples were pushed")
        if self._writer is not None:
            try:
                self._writer.finish()
            finally:
                self._writer.close()
            assert self._sink is not None
            out += self._sink.take()
        return out

    def close(self) -> None:
        """Release the encoder without producing more output (idempotent)."""
        self._finished = True
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> StreamEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._finished:
            raise ValueError("the stream is finished")

    def _encode(self, x: np.ndarray) -> bytes:
        if x.size == 0 and self.samples == 0:
            return b""  # nothing goes out, not even a header, before the first sample
        x = np.clip(x, -1.0, 1.0, dtype=np.float32)
        self.samples += x.size
        if self._writer is not None:
            assert self._sink is not None
            self._writer.write(x)
            return self._sink.take()
        out = b""
        if not self._header_sent and self.format is AudioFormat.WAV and x.size:
            out = _streaming_wav_header(self.rate)
            self._header_sent = True
        return out + _to_int16(x).tobytes()


def decode_audio(
    data: bytes, fmt: AudioFormat | str, rate: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode bytes of ``fmt`` to (float32 mono samples, rate) to read output back.

    WAV/FLAC via soundfile, MP3/Opus/AAC via PyAV (Opus always at 48 kHz), PCM needs
    ``rate``. Several channels are averaged. Samples scale by 1/32768 as libsndfile does.
    """
    fmt = AudioFormat(fmt)
    if fmt is AudioFormat.PCM:
        if rate is None:
            raise ValueError("raw PCM has no header: pass its rate")
        _check_rate(rate)
        if len(data) % 2:
            raise ValueError("raw s16le PCM must have an even number of bytes")
        return np.frombuffer(data, "<i2").astype(np.float32) / np.float32(32768.0), rate
    if fmt in (AudioFormat.WAV, AudioFormat.FLAC):
        import soundfile as sf

        samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return _mono(samples.T), int(sr)
    import av

    with av.open(io.BytesIO(data), format=_CODECS[fmt].demuxer) as container:
        stream = container.streams.audio[0]
        sr = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=sr)
        blocks = [
            out.to_ndarray()
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        blocks += [out.to_ndarray() for out in resampler.resample(None)]
    if not blocks:
        return np.zeros(0, np.float32), sr
    return _mono(np.concatenate(blocks, axis=1)), sr


class _Sink:
    """An unseekable in-memory output: the muxer must not rely on going back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buffer)
        self._buffer.clear()
        return out


class _PyAVWriter:
    """One PyAV output container with a mono stream, fed float32 in codec frames."""

    def __init__(self, fmt: AudioFormat, rate: int, sink: Any, *, streaming: bool) -> None:
        import av

        spec = _CODECS[fmt]
        options = {"fflags": "+bitexact+flush_packets"}
        if streaming:
            options.update(spec.stream_options)
        self._av = av
        self._rate = rate
        self._format = spec.sample_format
        self._container: Any = av.open(sink, mode="w", format=spec.muxer, options=options)
        try:
            self._stream: Any = self._container.add_stream(
                spec.codec, rate=rate, options={"flags": "+bitexact"}
            )
            ctx = self._stream.codec_context
            ctx.layout = "mono"
            ctx.format = spec.sample_format
            ctx.bit_rate = spec.bit_rate
            self._container.start_encoding()  # opens the codec, writes the header
        except BaseException:
            with contextlib.suppress(Exception):  # keep the original error
                self._container.close()
            raise
        self._frame_size: int = ctx.frame_size or 1024
        self._pending = np.zeros(0, np.float32)
        self._pts = 0
        self._closed = False

    def write(self, x: np.ndarray) -> None:
        """Encode every full frame; keep the remainder for the next call."""
        pending = np.concatenate([self._pending, x]) if self._pending.size else x
        full = pending.size - pending.size % self._frame_size
        for start in range(0, full, self._frame_size):
            self._encode(pending[start : start + self._frame_size])
        self._pending = pending[full:].copy()

    def finish(self) -> None:
        """Encode the short last frame, drain the encoder, write the trailer."""
        if self._pending.size:
            self._encode(self._pending)
            self._pending = np.zeros(0, np.float32)
        self._container.mux(self._stream.encode(None))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()

    def _encode(self, block: np.ndarray) -> None:
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block, dtype=np.float32)[np.newaxis, :],
            format=self._format,
            layout="mono",
        )
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._pts
        self._pts += block.size
        self._container.mux(self._stream.encode(frame))


def _check_rate(rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer):
        raise ValueError(f"rate must be an integer, got {rate!r}")
    if not 0 < rate <= _MAX_RATE:
        raise ValueError(f"rate must be in 1..{_MAX_RATE} Hz, got {rate}")


def _samples(audio: np.ndarray) -> np.ndarray:
    """Validated float32 mono samples (1-D, or 2-D with one channel), clipped to [-1, 1]."""
    x = np.asarray(audio)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or x.size == 0):
        raise ValueError(f"expected float samples in [-1, 1], got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or infinite samples")
    return np.clip(x, -1.0, 1.0)


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Clip, scale by 32767, round to nearest (symmetric: +-1.0 -> +-32767).

    Done here rather than by libsndfile (1.2.2 floors x * 32768) so that streamed
    WAV/PCM and whole WAV/FLAC files hold the same samples whatever its version.
    """
    return np.rint(np.clip(x, -1.0, 1.0) * _INT16_SCALE).astype("<i2")


def _mono(channels: np.ndarray) -> np.ndarray:
    """(channels, samples) -> float32 mono."""
    mono = channels[0] if channels.shape[0] == 1 else channels.mean(axis=0)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _streaming_wav_header(rate: int) -> bytes:
    """RIFF/WAVE PCM 16-bit mono with unknown RIFF and data sizes (0xFFFFFFFF)."""
    fmt_chunk = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", _WAV_UNKNOWN)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt_chunk))
        + fmt_chunk
        + b"data"
        + struct.pack("<I", _WAV_UNKNOWN)
    )
