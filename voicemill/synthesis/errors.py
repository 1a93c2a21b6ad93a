"""The error a synthesis request raises when its input cannot be used."""

from __future__ import annotations

from voicemill.errors import RejectedInput


class SynthesisError(RejectedInput):
    """Unusable synthesis input or an engine whose parts do not fit together.

    Reasons used: ``reference_too_short``/``reference_too_long`` (outside 3-10 s),
    ``nothing_to_say`` (no speakable text), ``ssl_dim_mismatch``/``bert_dim_mismatch``
    (an extractor that is not the one the checkpoint was trained on), ``codebook_mismatch``
    (s1 and s2 checkpoints whose semantic vocabularies differ).
    """
