"""Speaker similarity: does the synthesis sound like the speaker's held-out real speech?

Embeddings come from resemblyzer's ``VoiceEncoder`` (a GE2E d-vector LSTM whose 17 MB
weights ship inside the wheel, so nothing downloads; 256-dim, L2-normalized). It runs
on the CPU and is loaded once per :class:`SpeakerEncoder`.

Preprocessing: audio is resampled to 16 kHz with soxr and handed to resemblyzer's
``preprocess_wav`` *without* a source rate, so its librosa resampling is skipped; what
remains is its volume normalization (raise to -30 dBFS, never lower) and the trimming of
long silences with webrtcvad, which the encoder was trained with.

Score: :func:`speaker_similarity` is the cosine between each synthesis embedding and the
L2-normalized *mean* of the held-out reference embeddings (the speaker centroid, as in
GE2E). For unit vectors the mean of pairwise cosines equals ``s · mean(r)``, so the
centroid cosine is that mean divided by ``|mean(r)|``: it does not shrink when the
references vary more, which keeps scores comparable across speakers whose held-out sets
differ in size and variety, and it costs one dot product per synthesis.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from voicemill.evaluation.audio import RATE, require_signal, to_16k
from voicemill.evaluation.errors import EvaluationError

EMBEDDING_DIM = 256


class SpeakerEncoder:
    """resemblyzer d-vectors of speech clips; ``min_speech_s`` of voiced audio (after VAD
    trimming) is needed for an embedding: resemblyzer itself would zero-pad anything
    shorter than its 1.6 s window and return a meaningless vector."""

    def __init__(self, device: str = "cpu", min_speech_s: float = 1.0) -> None:
        self.device = device
        self.min_speech_s = min_speech_s
        self._encoder: Any = None
        self._lock = threading.Lock()

    def embed(self, audio: np.ndarray, rate: int) -> np.ndarray:
        """L2-normalized float32 embedding (256,) of one clip at any sample rate.

        Raises :class:`EvaluationError` ``audio_too_short`` or ``silent_audio``.
        """
        from resemblyzer import preprocess_wav

        audio_16k = to_16k(audio, rate)
        require_signal(audio_16k, self.min_speech_s, "speaker embedding")
        speech = preprocess_wav(audio_16k)
        voiced_s = speech.size / RATE
        if voiced_s < self.min_speech_s:
            raise EvaluationError(
                "audio_too_short",
                f"speaker embedding needs {self.min_speech_s:g} s of voiced speech, "
                f"found {voiced_s:.2f} s",
            )
        with self._lock:
            embedding = self._ensure_encoder().embed_utterance(speech.astype(np.float32))
        return _unit_rows(np.asarray(embedding, dtype=np.float32)[None, :])[0]

    def embed_many(self, clips: Iterable[tuple[np.ndarray, int]]) -> np.ndarray:
        """Embeddings of ``(audio, rate)`` clips as an ``(n, 256)`` array."""
        rows = [self.embed(audio, rate) for audio, rate in clips]
        if not rows:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack(rows)

    def _ensure_encoder(self) -> Any:
        if self._encoder is None:
            from resemblyzer import VoiceEncoder

            self._encoder = VoiceEncoder(device=self.device, verbose=False)
            self._encoder.eval()
        return self._encoder


def speaker_centroid(reference_embeddings: np.ndarray) -> np.ndarray:
    """L2-normalized mean of the (re-normalized) reference embeddings."""
    refs = _unit_rows(_as_matrix(reference_embeddings, "reference_embeddings"))
    return _unit_rows(refs.mean(axis=0, keepdims=True), "reference centroid")[0]


def speaker_similarity(
    synth_embeddings: np.ndarray, reference_embeddings: np.ndarray
) -> np.ndarray:
    """Cosine of each synthesis embedding with the reference speaker centroid.

    ``synth_embeddings``: ``(n, d)`` or one ``(d,)``; ``reference_embeddings``: ``(m, d)``
    or ``(d,)``, embeddings of held-out real utterances of the speaker. Returns ``(n,)``
    float64 in [-1, 1] (in practice [0, 1]: resemblyzer embeddings are non-negative).
    """
    synth = _unit_rows(_as_matrix(synth_embeddings, "synth_embeddings"))
    centroid = speaker_centroid(reference_embeddings)
    if synth.shape[1] != centroid.shape[0]:
        raise EvaluationError(
            "invalid_embeddings",
            f"synthesis embeddings have dim {synth.shape[1]}, references {centroid.shape[0]}",
        )
    return np.clip(synth.astype(np.float64) @ centroid.astype(np.float64), -1.0, 1.0)


def _as_matrix(embeddings: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise EvaluationError(
            "invalid_embeddings", f"{name} must be a non-empty (n, dim) array, got {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise EvaluationError("invalid_embeddings", f"{name} contains NaN or infinite values")
    return matrix


def _unit_rows(matrix: np.ndarray, name: str = "embeddings") -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if np.any(norms < 1e-12):
        raise EvaluationError("invalid_embeddings", f"{name} contain a zero vector")
    return matrix / norms
