"""What the pipeline is expected to do with each generated file.

The demo and the tests compare the pipeline's quarantine records against these, so
the stage and reason codes must be exactly the ones the pipeline produces.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExpectedOutcome:
    """``reason`` None: the file must make it into the training manifest.

    Otherwise ``stage`` is where the pipeline must quarantine it and ``reason`` the code
    it must give.
    """

    stage: str
    reason: str | None = None

    @property
    def succeeds(self) -> bool:
        return self.reason is None


SUCCESS = ExpectedOutcome("manifest", None)

EMPTY_FILE = ExpectedOutcome("decode", "empty_file")
CORRUPT_AUDIO = ExpectedOutcome("decode", "corrupt_audio")
NOT_AUDIO = ExpectedOutcome("decode", "not_audio")
TOO_SHORT = ExpectedOutcome("decode", "too_short")
NON_FINITE_SAMPLES = ExpectedOutcome("decode", "non_finite_samples")
SILENT = ExpectedOutcome("standardize", "silent")
HEAVY_CLIPPING = ExpectedOutcome("standardize", "heavy_clipping")
TRANSCRIPT_NOT_UTF8 = ExpectedOutcome("transcript", "transcript_not_utf8")
TRANSCRIPT_EMPTY = ExpectedOutcome("transcript", "transcript_empty")
TRANSCRIPT_MISMATCH = ExpectedOutcome("align", "transcript_mismatch")
# Every segment of a very noisy recording is rejected, so the recording is quarantined.
TOO_NOISY = ExpectedOutcome("segment", "noisy")
