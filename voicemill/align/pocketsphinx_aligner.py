"""Offline English forced alignment with pocketsphinx 5 (nothing to download).

pocketsphinx ships the CMU en-us acoustic model and dictionary inside the wheel, so
this aligner works on an air-gapped worker and in tests. It is English-only; Mandarin
goes through whisperx with a wav2vec2 model.

How it is driven (measured on pocketsphinx 5.1.1):

* ``Decoder(samprate=16000, bestpath=False)``: the default bestpath rescoring breaks
  alignment search.
* ``set_align_text`` re-arms the same decoder for each utterance, so the acoustic model
  is loaded once per aligner instance.
* Audio goes in as int16 via ``process_raw(..., full_utt=False)``. With
  ``full_utt=True`` (batch cepstral normalization) the align search reported "Final
  result does not match the grammar" even for correct transcripts.
* Live cepstral mean normalization starts from a fixed prior and adapts too slowly for
  a few-second clip, so results depended on input level and on the previous clip. We
  peak-normalize the clip to -6 dBFS, reset the mean, estimate it on the clip in a
  first pass (``no_search``), then align: deterministic, and on 180 espeak clips
  (4 voices, 3 levels, 3 paddings) failures fell from 48 to 18 (0 with the retry below).
* Words missing from the dictionary get a pronunciation via ``add_word``: the
  accent-free spelling's dictionary entry ("café" -> "cafe"), else :mod:`.pronounce`
  (CMUdict, else letter-to-sound rules).
* If the default beams cannot fit the transcript, the alignment is retried once with
  much wider beams (a second decoder, created on first need). That rescues correct
  transcripts with a poorly guessed pronunciation; wrong transcripts then usually
  align too, but with a low score.

Score (0..1) = acoustic density x speech coverage:

* *density*: the frame-weighted geometric mean of pocketsphinx's per-word acoustic
  density (``Segment.ascore``, a per-frame likelihood relative to the best senone,
  already in (0, 1]).
* *coverage*: the share of energetic (speech) frames that the alignment put inside words
  rather than silence or noise fillers. A transcript missing words leaves speech under
  ``<sil>``, and a wrong transcript pushes speech into fillers, so coverage falls.

Correct transcripts of clean speech score about 0.9; a transcript covering half the
speech about 0.4. A transcript the audio cannot be fitted to even with wide beams
(typically the wrong text, or no speech) fails with ``alignment_failed``. Single-word
substitutions move the score only a little; the ASR judge
(:func:`voicemill.align.verify.transcript_agreement`) catches those.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from typing import Any

import numpy as np

from voicemill.align.base import (
    SAMPLE_RATE,
    AlignmentError,
    AlignmentResult,
    WordTiming,
    check_audio,
)
from voicemill.align.pronounce import pronounce
from voicemill.text.normalize import TextError, normalize_text, words_for_alignment

FRAME_S = 0.01  # pocketsphinx's default 100 frames per second
_TARGET_PEAK = 0.5  # input level for the acoustic front end (-6 dBFS peak)


class PocketsphinxAligner:
    """English forced aligner. Calls on one instance are serialized by a lock; use one
    instance per worker thread for parallelism."""

    name = "pocketsphinx"

    def __init__(self, silence_prob: float = 0.5, speech_floor_db: float = 35.0) -> None:
        """``silence_prob``: pocketsphinx ``silprob``, the prior for a pause between words.

        The default 0.005 made the aligner stretch words over real pauses; 0.5 halved
        boundary errors on espeak speech with 50-150 ms pauses between words.
        ``speech_floor_db``: frames this far below the loud frames count as non-speech.
        """
        self._silence_prob = silence_prob
        self._speech_floor_db = speech_floor_db
        self._decoders: dict[bool, Any] = {}  # keyed by "wide beam"
        self._initial_cmn = ""
        self._lock = threading.Lock()

    def supports(self, language: str) -> bool:
        return language == "en"

    def align(self, audio_16k: np.ndarray, text: str, language: str) -> AlignmentResult:
        """Time every word of ``text`` in ``audio_16k`` (float32 mono 16 kHz)."""
        if not self.supports(language):
            raise AlignmentError(
                "unsupported_language", f"pocketsphinx aligns English only, got {language!r}"
            )
        audio = check_audio(audio_16k)
        try:
            normalized = normalize_text(text, "en")
        except TextError as exc:
            raise AlignmentError(exc.reason, exc.detail) from exc
        tokens = words_for_alignment(normalized, "en")
        if not tokens:
            raise AlignmentError("empty_transcript", f"nothing to align in {text!r}")
        peak = float(np.max(np.abs(audio)))
        level = audio * (_TARGET_PEAK / peak) if peak > 0 else audio
        pcm = (np.clip(level, -1.0, 1.0) * 32767.0).astype(np.int16)
        with self._lock:
            try:
                segments = self._decode(pcm, tokens, wide=False)
            except AlignmentError:
                segments = self._decode(pcm, tokens, wide=True)
        words = [s for s in segments if not _is_filler(s[0])]
        if [w[0] for w in words] != tokens:
            raise AlignmentError(
                "alignment_failed",
                f"aligned words {[w[0] for w in words]} differ from transcript {tokens}",
            )
        duration = audio.size / SAMPLE_RATE
        timings = tuple(
            WordTiming(
                word,
                round(start * FRAME_S, 3),
                round(min((end + 1) * FRAME_S, duration), 3),
                round(density, 4),
            )
            for word, start, end, density in words
        )
        score = _density(words) * _coverage(audio, words, self._speech_floor_db)
        return AlignmentResult(
            text=normalized,
            language="en",
            words=timings,
            score=float(min(max(score, 0.0), 1.0)),
            method=self.name,
        )

    def _decode(
        self, pcm: np.ndarray, tokens: list[str], wide: bool
    ) -> list[tuple[str, int, int, float]]:
        decoder = self._ensure_decoder(wide)
        for token in dict.fromkeys(tokens):
            if decoder.lookup_word(token) is None:
                folded = _ascii_fold(token)
                phones = (folded != token and decoder.lookup_word(folded)) or pronounce(folded)
                decoder.add_word(token, phones, True)
        try:
            # Pass 1 estimates this utterance's cepstral mean; pass 2 aligns with it.
            decoder.set_cmn(self._initial_cmn)
            decoder.start_utt()
            decoder.process_raw(pcm.tobytes(), no_search=True, full_utt=False)
            cmn = decoder.get_cmn(True)
            decoder.end_utt()
            decoder.set_cmn(cmn)
            decoder.set_align_text(" ".join(tokens))
            decoder.start_utt()
            decoder.process_raw(pcm.tobytes(), full_utt=False)
            decoder.end_utt()
        except RuntimeError as exc:
            raise AlignmentError("alignment_failed", f"pocketsphinx: {exc}") from exc
        if decoder.hyp() is None:
            raise AlignmentError(
                "alignment_failed",
                "pocketsphinx could not fit the transcript to the audio "
                "(wrong or incomplete transcript, or no speech)",
            )
        return [
            (_base_word(seg.word), seg.start_frame, seg.end_frame, float(seg.ascore))
            for seg in decoder.seg()
        ]

    def _ensure_decoder(self, wide: bool) -> Any:
        if wide not in self._decoders:
            from pocketsphinx import Decoder

            beams = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80} if wide else {}
            self._decoders[wide] = Decoder(
                samprate=SAMPLE_RATE,
                bestpath=False,
                silprob=self._silence_prob,
                loglevel="FATAL",
                **beams,
            )
            self._initial_cmn = self._decoders[wide].get_cmn()
        return self._decoders[wide]


def _ascii_fold(word: str) -> str:
    """ "café" -> "cafe": the dictionaries spell loanwords without accents."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+")) or word in {"sil", "SIL"}


def _base_word(word: str) -> str:
    """Drop pocketsphinx's alternate-pronunciation suffix: ``read(2)`` -> ``read``."""
    return word.split("(", 1)[0] if word.endswith(")") else word


def _density(words: list[tuple[str, int, int, float]]) -> float:
    frames = sum(end - start + 1 for _, start, end, _ in words)
    if frames <= 0:
        return 0.0
    log_sum = sum(
        (end - start + 1) * math.log(min(max(density, 1e-12), 1.0))
        for _, start, end, density in words
    )
    return math.exp(log_sum / frames)


def _coverage(
    audio: np.ndarray, words: list[tuple[str, int, int, float]], floor_db: float
) -> float:
    """Share of speech frames (by energy) that fall inside aligned words."""
    hop = int(FRAME_S * SAMPLE_RATE)
    n = audio.size // hop
    if n == 0:
        return 0.0
    frames = audio[: n * hop].astype(np.float64).reshape(n, hop)
    energy_db = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = float(np.percentile(energy_db, 99))
    noise = float(np.percentile(energy_db, 10))
    speech = energy_db > max(loud - floor_db, noise + 6.0)
    if not speech.any():
        return 0.0
    inside = np.zeros(n, dtype=bool)
    for _, start, end, _ in words:
        inside[start : end + 1] = True
    return float(np.count_nonzero(speech & inside) / np.count_nonzero(speech))
