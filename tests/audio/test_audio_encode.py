"""Delivery encodings: every format decodes back to its length, rate and sound, byte for
byte repeatably, and a streamed encoding is one valid file of the same audio."""

from __future__ import annotations

import itertools
import struct
import subprocess
import sys

import av
import numpy as np
import pytest

from voicemill.audio.encode import (
    AudioFormat,
    StreamEncoder,
    decode_audio,
    encode_audio,
    output_rate,
    supported_rates,
)

RATE = 32_000  # what the synthesizer delivers
TONE_HZ = 440.0
LAME_DELAY = 1105  # libmp3lame's encoder delay (576 + 529 samples)
MPEG1_FRAME = 1152  # MP3 frame at 32-48 kHz
AAC_FRAME = 1024  # also AAC's priming

FORMATS = list(AudioFormat)
STREAMABLE = [f for f in AudioFormat if f.streamable]
# Chunks a server might push: a tiny first piece, then sentences of uneven length.
CHUNKS_S = (0.001, 0.5, 2.3)


def _tone(rate: int = RATE, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def _extra_bounds(fmt: AudioFormat, streamed: bool) -> tuple[int, int]:
    """Decoded minus encoded samples (at the decoded rate) each codec may add (MP3 frames
    of MPEG-1, 32-48 kHz; below they are half as long)."""
    if fmt is AudioFormat.MP3:  # whole files carry the delay/padding in a LAME tag
        return (0, LAME_DELAY + 2 * MPEG1_FRAME) if streamed else (0, MPEG1_FRAME)
    if fmt is AudioFormat.AAC:  # ADTS cannot signal the priming: priming + padding
        return AAC_FRAME, 2 * AAC_FRAME - 1
    if fmt is AudioFormat.OPUS:  # Ogg granule positions trim exactly; +-1 from resampling
        return -1, 1
    return 0, 0


def _decoded_rate(fmt: AudioFormat, rate: int) -> int:
    return 48_000 if fmt is AudioFormat.OPUS else output_rate(fmt, rate)  # RFC 7845


def _assert_sounds_like_the_tone(
    decoded: np.ndarray, rate: int, source: np.ndarray, source_rate: int = RATE
) -> None:
    spectrum = np.abs(np.fft.rfft(decoded))
    peak_hz = np.argmax(spectrum) * rate / decoded.size
    assert abs(peak_hz - TONE_HZ) < 2.0
    # Energy per second of source (codec delay and padding add silence, not energy);
    # LAME at 64 kbit/s takes ~0.45 dB off this tone.
    energy_db = 10 * np.log10(np.sum(decoded**2) / rate / (np.sum(source**2) / source_rate))
    assert abs(energy_db) < 1.0


def _assert_magic(fmt: AudioFormat, data: bytes, rate: int) -> None:
    if fmt is AudioFormat.WAV:
        assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    elif fmt is AudioFormat.FLAC:
        assert data[:4] == b"fLaC"
    elif fmt is AudioFormat.MP3:  # ID3v2 tag, then an MPEG audio frame sync
        assert data[:3] == b"ID3"
        tag_size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
        frame = data[10 + tag_size :]
        assert frame[0] == 0xFF and frame[1] & 0xE0 == 0xE0
    elif fmt is AudioFormat.OPUS:  # first Ogg page holds OpusHead: mono, encoded rate
        assert data[:4] == b"OggS" and data[28:36] == b"OpusHead"
        assert data[37] == 1
        assert struct.unpack("<I", data[40:44])[0] == output_rate(fmt, rate)
    elif fmt is AudioFormat.AAC:  # ADTS sync word, channel configuration 1
        assert data[0] == 0xFF and data[1] & 0xF6 == 0xF0
        assert ((data[2] & 1) << 2 | data[3] >> 6) == 1
    else:  # raw PCM: two bytes a sample, nothing else
        assert len(data) % 2 == 0


def _stream(fmt: AudioFormat, audio: np.ndarray, rate: int) -> list[bytes]:
    """Push ``audio`` in CHUNKS_S pieces plus the rest; every push's output, then finish's."""
    encoder = StreamEncoder(fmt, rate)
    bounds = np.cumsum([0, *(round(s * rate) for s in CHUNKS_S), audio.size])
    bounds[-1] = audio.size
    outputs = [encoder.push(audio[a:b]) for a, b in itertools.pairwise(bounds)]
    return [*outputs, encoder.finish()]


def test_formats_name_their_content_type_and_extension() -> None:
    assert {f.value: f.content_type for f in AudioFormat} == {
        "mp3": "audio/mpeg",
        "opus": "audio/ogg",
        "aac": "audio/aac",
        "flac": "audio/flac",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
    }
    assert {f.extension for f in AudioFormat} == {"mp3", "opus", "aac", "flac", "wav", "pcm"}
    assert AudioFormat("opus") is AudioFormat.OPUS
    assert [f for f in AudioFormat if not f.streamable] == [AudioFormat.FLAC]


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_whole_file_decodes_to_the_same_sound(fmt: AudioFormat) -> None:
    tone = _tone()
    data = encode_audio(tone, RATE, fmt)
    _assert_magic(fmt, data, RATE)
    decoded, rate = decode_audio(data, fmt, rate=output_rate(fmt, RATE))
    assert rate == _decoded_rate(fmt, RATE)
    lo, hi = _extra_bounds(fmt, streamed=False)
    assert lo <= decoded.size - round(tone.size * rate / RATE) <= hi
    _assert_sounds_like_the_tone(decoded, rate, tone)
    assert encode_audio(tone.copy(), RATE, fmt.value) == data  # deterministic


@pytest.mark.parametrize("fmt", [AudioFormat.WAV, AudioFormat.FLAC, AudioFormat.PCM], ids=str)
def test_lossless_formats_keep_every_16_bit_sample(fmt: AudioFormat) -> None:
    rng = np.random.default_rng(3)
    audio = rng.uniform(-1.2, 1.2, RATE // 2).astype(np.float32)  # some beyond full scale
    decoded, rate = decode_audio(encode_audio(audio, RATE, fmt), fmt, rate=RATE)
    expected = np.rint(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    assert rate == RATE
    np.testing.assert_array_equal(np.rint(decoded * 32768).astype(np.int16), expected)


@pytest.mark.parametrize(
    ("fmt", "rate", "encoded_rate"),
    [
        (AudioFormat.OPUS, 32_000, 48_000),
        (AudioFormat.OPUS, 22_050, 24_000),
        (AudioFormat.OPUS, 16_000, 16_000),
        (AudioFormat.MP3, 96_000, 48_000),
        (AudioFormat.AAC, 7_000, 7_350),
        (AudioFormat.WAV, 12_345, 12_345),
    ],
)
def test_rates_a_codec_cannot_carry_are_resampled_up(
    fmt: AudioFormat, rate: int, encoded_rate: int
) -> None:
    assert output_rate(fmt, rate) == encoded_rate
    tone = _tone(rate, 1.0)
    data = encode_audio(tone, rate, fmt)
    _assert_magic(fmt, data, rate)  # Opus: OpusHead names the encoded rate
    decoded, decoded_rate = decode_audio(data, fmt)
    assert decoded_rate == _decoded_rate(fmt, rate)
    lo, hi = _extra_bounds(fmt, streamed=False)
    assert lo <= decoded.size - round(tone.size * decoded_rate / rate) <= hi
    _assert_sounds_like_the_tone(decoded, decoded_rate, tone, rate)


def test_supported_rates_are_the_encoders() -> None:
    for fmt, codec in [
        (AudioFormat.MP3, "libmp3lame"),
        (AudioFormat.OPUS, "libopus"),
        (AudioFormat.AAC, "aac"),
    ]:
        assert supported_rates(fmt) == tuple(sorted(av.codec.Codec(codec, "w").audio_rates))
    assert supported_rates("wav") is None and supported_rates("pcm") is None


@pytest.mark.parametrize("fmt", STREAMABLE, ids=str)
def test_stream_decodes_to_the_audio_pushed(fmt: AudioFormat) -> None:
    tone = _tone()
    outputs = _stream(fmt, tone, RATE)
    data = b"".join(outputs)
    _assert_magic(fmt, data, RATE)
    # Audio leaves as it is pushed: the half-second push already yields bytes, and
    # finish only adds the codec's tail.
    assert outputs[2]
    assert sum(map(len, outputs[:-1])) >= 0.8 * len(data)
    decoded, rate = decode_audio(data, fmt, rate=output_rate(fmt, RATE))
    assert rate == _decoded_rate(fmt, RATE)
    lo, hi = _extra_bounds(fmt, streamed=True)
    assert lo <= decoded.size - round(tone.size * rate / RATE) <= hi
    _assert_sounds_like_the_tone(decoded, rate, tone)
    assert b"".join(_stream(fmt, tone, RATE)) == data  # deterministic too


def test_streamed_wav_and_pcm_hold_the_whole_file_samples() -> None:
    tone = _tone()
    whole = encode_audio(tone, RATE, "wav")
    streamed = b"".join(_stream(AudioFormat.WAV, tone, RATE))
    assert whole[36:40] == b"data"  # soundfile's header is 44 bytes too
    assert streamed[:4] == b"RIFF" and streamed[36:40] == b"data"
    assert streamed[4:8] == b"\xff\xff\xff\xff" and streamed[40:44] == b"\xff\xff\xff\xff"
    assert struct.unpack("<HHI", streamed[20:28]) == (1, 1, RATE)  # PCM, mono, rate
    assert streamed[44:] == whole[44:]
    a, _ = decode_audio(streamed, "wav")
    b, _ = decode_audio(whole, "wav")
    np.testing.assert_array_equal(a, b)
    assert b"".join(_stream(AudioFormat.PCM, tone, RATE)) == encode_audio(tone, RATE, "pcm")


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(0, np.float32),
        np.array([0.1, np.nan, 0.1], np.float32),
        np.array([0.1, np.inf], np.float32),
        np.zeros((100, 2), np.float32),
    ],
    ids=["empty", "nan", "inf", "stereo"],
)
def test_unusable_audio_is_refused(fmt: AudioFormat, audio: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode_audio(audio, RATE, fmt)


def test_stream_refusals() -> None:
    with pytest.raises(ValueError, match="flac cannot be streamed"):
        StreamEncoder("flac", RATE)
    with pytest.raises(ValueError):
        StreamEncoder("ogg", RATE)
    with pytest.raises(ValueError, match="rate"):
        StreamEncoder("mp3", 0)
    encoder = StreamEncoder("opus", RATE)
    with pytest.raises(ValueError, match="NaN"):
        encoder.push(np.array([np.nan], np.float32))
    assert encoder.push(np.zeros(0, np.float32)) == b""  # an empty piece is harmless
    with pytest.raises(ValueError, match="no samples"):
        encoder.finish()  # but a stream without audio is refused
    with pytest.raises(ValueError, match="finished"):
        encoder.push(_tone(seconds=0.1))
    with StreamEncoder("mp3", RATE) as abandoned:
        abandoned.push(_tone(seconds=0.1))
    with pytest.raises(ValueError, match="finished"):
        abandoned.finish()
    with pytest.raises(ValueError, match="rate"):
        decode_audio(b"\0\0", "pcm")


def test_importing_the_module_loads_no_codec_library() -> None:
    code = (
        "import sys, voicemill.audio.encode; "
        "print(sorted({'av', 'soundfile', 'soxr'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
