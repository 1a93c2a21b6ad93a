"""Synthetic speech data for demos, tests and benchmarks (espeak-ng based)."""

from voicemill.corpus.bad_inputs import LongRecordingInfo, write_bad_inputs, write_long_recording
from voicemill.corpus.demo import CorpusSummary, generate_demo_corpus, read_corpus_summary
from voicemill.corpus.outcomes import ExpectedOutcome

__all__ = [
    "CorpusSummary",
    "ExpectedOutcome",
    "LongRecordingInfo",
    "generate_demo_corpus",
    "read_corpus_summary",
    "write_bad_inputs",
    "write_long_recording",
]
