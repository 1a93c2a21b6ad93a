"""Errors shared by the model family's checkpoint readers."""

from voicemill.errors import RejectedInput


class CheckpointError(RejectedInput):
    """A file that is not a usable checkpoint of the expected part and version.

    Reasons used: ``unreadable``/``truncated_checkpoint``, ``not_a_checkpoint``,
    ``not_s1_checkpoint``/``foreign_checkpoint``, ``unsupported_variant``/
    ``unsupported_version``, ``weights_mismatch``/``incompatible_weights``.
    """
