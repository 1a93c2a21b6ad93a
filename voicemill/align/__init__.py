"""Transcription, forced alignment and transcript-to-segment assignment.

Backends share the types in :mod:`voicemill.align.base`; heavy libraries (torch,
pocketsphinx, faster-whisper, whisperx) load only when a backend is first used.
"""

from voicemill.align.assign import Assignment, AssignmentCosts, assign_sentences, speech_units
from voicemill.align.base import (
    Aligner,
    AlignmentError,
    AlignmentResult,
    Transcriber,
    TranscriptionResult,
    WordTiming,
)
from voicemill.align.pocketsphinx_aligner import PocketsphinxAligner
from voicemill.align.verify import transcript_agreement
from voicemill.align.whisper_transcriber import (
    FasterWhisperTranscriber,
    bundled_whisper_model_dir,
)
from voicemill.align.whisperx_backend import WhisperxBackend

__all__ = [
    "Aligner",
    "AlignmentError",
    "AlignmentResult",
    "Assignment",
    "AssignmentCosts",
    "FasterWhisperTranscriber",
    "PocketsphinxAligner",
    "Transcriber",
    "TranscriptionResult",
    "WhisperxBackend",
    "WordTiming",
    "assign_sentences",
    "bundled_whisper_model_dir",
    "speech_units",
    "transcript_agreement",
]
