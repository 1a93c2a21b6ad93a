"""Hyperparameters of the s1 GPT stage (text → semantic tokens)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a `Text2SemanticModel`.

    The feed-forward width is always ``4 * hidden_dim`` (upstream hard-codes it and ignores
    its ``linear_units`` key). ``dropout`` applies to the transformer layers and the positional
    encodings; upstream's YAML says 0 but its code hard-codes 0.1, which is what the official
    weights were trained with, so 0.1 is our default.

    ``vocab_size`` is the s2 codebook size plus one EOS token, whose id is the last one
    (``eos == vocab_size - 1``): an s1 model only works with an s2 model whose codebook has
    ``vocab_size - 1`` codes (the synthesis engine checks this).
    """

    embedding_dim: int = 512
    hidden_dim: int = 512
    n_heads: int = 16
    n_layers: int = 24
    phoneme_vocab_size: int = 732
    vocab_size: int = 1025  # 1024 semantic codes + EOS
    eos: int = 1024
    bert_dim: int = 1024
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.embedding_dim != self.hidden_dim:
            # Upstream adds embeddings straight into the residual stream; they must match.
            raise ValueError("embedding_dim must equal hidden_dim")
        if self.hidden_dim % self.n_heads:
            raise ValueError("hidden_dim must be divisible by n_heads")
        if self.eos != self.vocab_size - 1:
            raise ValueError("eos must be the last token id (vocab_size - 1)")

    @property
    def ffn_dim(self) -> int:
        return 4 * self.hidden_dim

    @classmethod
    def v2(cls) -> GPTConfig:
        """The official v2/v2Pro/v3/v4 s1 sizes (`s1longer-v2.yaml`, 77.6M parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> GPTConfig:
        """Same structure, small enough to train on a CPU in minutes.

        Its semantic vocabulary is the tiny s2 codebook (``SoVITSConfig.tiny()``: 64 codes)
        plus EOS, so the two tiny presets synthesize together. We shrink the s1 vocabulary
        rather than grow the tiny codebook to 1024: a 64-entry codebook is well covered by the
        few frames of a small corpus (k-means init, EMA updates), and a 65-way output layer
        trains faster than a 1025-way one. The phoneme vocabulary stays v2's.
        """
        return cls(embedding_dim=128, hidden_dim=128, n_heads=4, n_layers=2, vocab_size=65, eos=64)
