"""Speech from espeak-ng, the project's source of test and demo audio.

espeak-ng is a formant synthesizer: robotic, but deterministic, multilingual and
installable from Debian, so tests can make speech with known words and timings.
Debian's Mandarin voice reads hanzi badly, so Mandarin text is converted to
numbered pinyin (pypinyin) and spoken with the ``cmn-latn-pinyin`` voice.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf

ESPEAK_SAMPLE_RATE = 22050
_HAN = re.compile(r"[\u3400-\u9fff]")


class EspeakNotInstalled(RuntimeError):
    pass


@dataclass(frozen=True)
class EspeakVoice:
    """An espeak-ng voice with a variant and prosody: one pseudo-speaker."""

    language: str  # "en" or "zh"
    voice: str  # espeak voice name, e.g. "en-us" or "cmn-latn-pinyin"
    variant: str = ""  # e.g. "m3", "f2"
    speed_wpm: int = 150
    pitch: int = 50

    @property
    def spec(self) -> str:
        return f"{self.voice}+{self.variant}" if self.variant else self.voice


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakNotInstalled("espeak-ng is not installed; run scripts/setup.sh")
    return path


def to_pinyin(text: str) -> str:
    """Hanzi to numbered pinyin (``ni3 hao3``), punctuation kept as pauses."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    spoken = " ".join(s.strip() for s in syllables if s.strip())
    return re.sub(r"\s*([，。！？、；：,.!?;:])\s*", lambda m: _ascii_pause(m.group(1)), spoken)


def _ascii_pause(mark: str) -> str:
    return {"，": ", ", "、": ", ", "；": "; ", "：": ": ", "。": ". ", "！": "! ", "？": "? "}.get(
        mark, mark + " "
    )


def synthesize(text: str, voice: EspeakVoice) -> tuple[np.ndarray, int]:
    """Speak ``text``; returns mono float32 samples in [-1, 1] and the sample rate."""
    spoken = to_pinyin(text) if voice.language == "zh" and _HAN.search(text) else text
    proc = subprocess.run(
        [
            espeak_binary(),
            "-v",
            voice.spec,
            "-s",
            str(voice.speed_wpm),
            "-p",
            str(voice.pitch),
            "--stdout",
            spoken,
        ],
        capture_output=True,
        check=True,
    )
    # espeak writes a streaming WAV header with unknown length; soundfile copes.
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=False)
    return audio, sr
