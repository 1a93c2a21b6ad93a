"""The s1 GPT stage of GPT-SoVITS v2: phonemes (+ BERT) → 25 Hz semantic tokens."""

from voicemill.model.gpt.checkpoint import (
    CheckpointError,
    GPTCheckpoint,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from voicemill.model.gpt.config import GPTConfig
from voicemill.model.gpt.continuous import (
    ContinuousDecoder,
    DecodeRequest,
    DecoderFull,
    StepEvent,
)
from voicemill.model.gpt.generate import generate
from voicemill.model.gpt.model import Text2SemanticModel, TrainOutput

__all__ = [
    "CheckpointError",
    "ContinuousDecoder",
    "DecodeRequest",
    "DecoderFull",
    "GPTCheckpoint",
    "GPTConfig",
    "StepEvent",
    "Text2SemanticModel",
    "TrainOutput",
    "generate",
    "load_model",
    "read_checkpoint",
    "save_checkpoint",
]
