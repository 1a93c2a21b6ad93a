"""Does a supplied transcript match what the audio says?

An ASR hypothesis acts as the judge: the agreement between the transcript we were given
and what Whisper heard flags utterances whose text and audio disagree (wrong file, text
for a neighbouring clip, missing words). Error rates come from ``jiwer`` (standard,
well tested): word error rate for English, character error rate for Mandarin, where
words are not delimited. Both sides go through :func:`normalize_text` first so that
"$5" and "five dollars" agree.
"""

from __future__ import annotations

import jiwer

from voicemill.text.normalize import normalize_text


def transcript_agreement(reference: str, hypothesis: str, language: str) -> float:
    """1 - WER (en) or 1 - CER (zh) of ``hypothesis`` against ``reference``, in [0, 1].

    An empty reference agrees only with an empty hypothesis.
    """
    ref = normalize_text(reference, language)
    hyp = normalize_text(hypothesis, language)
    if language == "zh":
        ref, hyp = ref.replace(" ", ""), hyp.replace(" ", "")
    if not ref:
        return 1.0 if not hyp else 0.0
    if not hyp:
        return 0.0
    error = jiwer.cer(ref, hyp) if language == "zh" else jiwer.wer(ref, hyp)
    return float(min(max(1.0 - error, 0.0), 1.0))
