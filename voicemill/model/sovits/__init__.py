"""SoVITS stage (s2) of GPT-SoVITS v2: semantic tokens + phonemes -> 32 kHz waveform.

A clean-room implementation whose modules carry the official parameter names, so the
upstream ``s2G*.pth`` / ``s2D*.pth`` weights load directly.
"""

from voicemill.model.sovits.checkpoint import (
    CheckpointError,
    HParams,
    S2Checkpoint,
    load_s2_generator,
    read_s2_discriminator,
    read_s2_generator,
    write_s2_discriminator,
    write_s2_generator,
)
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.discriminator import MultiPeriodDiscriminator
from voicemill.model.sovits.losses import GeneratorLosses, S2Losses
from voicemill.model.sovits.synthesizer import GeneratorOutput, SynthesizerTrn, drop_enc_q

__all__ = [
    "CheckpointError",
    "GeneratorLosses",
    "GeneratorOutput",
    "HParams",
    "MultiPeriodDiscriminator",
    "S2Checkpoint",
    "S2Losses",
    "SoVITSConfig",
    "SynthesizerTrn",
    "drop_enc_q",
    "load_s2_generator",
    "read_s2_discriminator",
    "read_s2_generator",
    "write_s2_discriminator",
    "write_s2_generator",
]
