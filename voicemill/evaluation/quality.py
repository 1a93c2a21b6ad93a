"""Perceived quality: DNSMOS P.835 (SIG, BAK, OVRL) and P.808 MOS from ``speechmos``.

``speechmos`` ships Microsoft's DNSMOS ONNX models in its wheel (no download) and is the
only MOS predictor on PyPI that does; NISQA/UTMOS packages ship code without weights.
Its ``DNSMOS`` class is reused for the scoring itself (the reference implementation:
9.01 s windows hopped by 1 s, shorter clips tiled to 9.01 s, polynomial calibration),
but the ONNX sessions are built here so their thread count is set (speechmos's own
``run`` uses all cores and one process-wide model).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from voicemill.evaluation.audio import RATE, require_signal, to_16k

# DNSMOS consumes 9.01 s windows and tiles anything shorter; below this a clip is
# mostly repetition and the score says little (and an empty clip would loop forever).
DNSMOS_MIN_SECONDS = 1.0


class DnsmosScore(BaseModel):
    """DNSMOS scores on the 1-5 MOS scale; ``ovrl`` is the headline number."""

    model_config = ConfigDict(frozen=True)

    ovrl: float
    sig: float
    bak: float
    p808: float


class DnsmosScorer:
    """DNSMOS of clips at any rate (resampled to 16 kHz); models load once, on first use.

    ``personalized`` selects the personalized-DNSMOS primary model (penalizes
    interfering talkers). ``threads``: ONNX Runtime intra-op threads per session.
    """

    def __init__(
        self,
        *,
        personalized: bool = False,
        threads: int = 1,
        min_seconds: float = DNSMOS_MIN_SECONDS,
    ) -> None:
        self.personalized = personalized
        self.threads = threads
        self.min_seconds = min_seconds
        self._model: Any = None
        self._lock = threading.Lock()

    def score(self, audio: np.ndarray, rate: int) -> DnsmosScore:
        """Raises :class:`EvaluationError` ``audio_too_short`` or ``silent_audio``."""
        audio_16k = to_16k(audio, rate)
        require_signal(audio_16k, self.min_seconds, "DNSMOS")
        with self._lock:
            result = self._ensure_model()(audio_16k, RATE, self.personalized)
        return DnsmosScore(
            ovrl=float(result["ovrl_mos"]),
            sig=float(result["sig_mos"]),
            bak=float(result["bak_mos"]),
            p808=float(result["p808_mos"]),
        )

    def _ensure_model(self) -> Any:
        if self._model is None:
            import onnxruntime as ort
            from speechmos import dnsmos

            root = Path(dnsmos.__file__).resolve().parent
            primary = root / ("pdnsmos_models" if self.personalized else "dnsmos_models")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1

            def session(path: Path) -> Any:
                return ort.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )

            # Bypass DNSMOS.__init__ (which builds default all-core sessions) and set the
            # three attributes its __call__ uses.
            model = object.__new__(dnsmos.DNSMOS)
            model.primary_model_path = str(primary / "sig_bak_ovr.onnx")
            model.onnx_sess = session(primary / "sig_bak_ovr.onnx")
            model.p808_onnx_sess = session(root / "dnsmos_models" / "model_v8.onnx")
            self._model = model
        return self._model
