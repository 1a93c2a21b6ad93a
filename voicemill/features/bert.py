"""Per-phone BERT features for the text-to-semantic GPT (FACTS §5).

Upstream runs ``chinese-roberta-wwm-ext-large`` over each Mandarin segment, takes the
third-from-last hidden layer (layer 22 of 24), drops CLS/SEP and repeats each
character's vector ``word2ph[i]`` times so the features line up with phones. Every
other language gets zeros: the GPT was trained that way, so zeros are the correct
input, not a placeholder.

Imports torch at module level: only model code imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from voicemill.features.base import FeatureError

if TYPE_CHECKING:
    from voicemill.text.frontend import Phonemes, PhonemeSegment

BERT_LANGUAGES = frozenset({"zh"})
_HIDDEN_LAYER = -3  # third from last: layer 22 of 24 in the large model
_MAX_POSITIONS_FALLBACK = 512


class BertFeatureExtractor:
    """A local Chinese BERT dir -> ``[dim, n_phones]`` features (dim 1024 for the large model).

    ``dim`` comes from the checkpoint's config, so small test models work unchanged.
    """

    def __init__(self, model_dir: str | Path, device: str = "cpu") -> None:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise FeatureError("model_not_found", f"no BERT config.json in {path}")
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True)
        self.model.eval().to(self.device)
        config = self.model.config
        self._dim = int(config.hidden_size)
        self._max_chars = int(getattr(config, "max_position_embeddings", 0) or 0)
        self._max_chars = (self._max_chars or _MAX_POSITIONS_FALLBACK) - 2  # CLS + SEP

    @property
    def dim(self) -> int:
        return self._dim

    def extract(
        self,
        text: str,
        word2ph: Sequence[int] | None,
        language: str = "zh",
        n_phones: int | None = None,
    ) -> torch.Tensor:
        """Features of one single-language run -> ``[dim, n_phones]`` float32 on CPU.

        Mandarin needs ``word2ph`` (one count per character of ``text``); other
        languages need ``n_phones`` and get zeros.
        """
        if language not in BERT_LANGUAGES:
            if n_phones is None:
                n_phones = sum(word2ph) if word2ph is not None else None
            if n_phones is None or n_phones < 0:
                raise FeatureError("missing_phone_count", f"{language} features need n_phones")
            return torch.zeros(self._dim, n_phones)
        if word2ph is None:
            raise FeatureError("missing_word2ph", "Mandarin BERT features need word2ph")
        features = self._char_phone_features(text, list(word2ph))
        if n_phones is not None and features.shape[1] != n_phones:
            raise FeatureError(
                "word2ph_mismatch", f"word2ph sums to {features.shape[1]}, expected {n_phones}"
            )
        return features

    def segment_features(self, segment: PhonemeSegment) -> torch.Tensor:
        """One frontend segment -> ``[dim, len(segment.phones)]``."""
        return self.extract(
            segment.norm_text, segment.word2ph, segment.language, len(segment.phones)
        )

    def phoneme_features(self, phonemes: Phonemes) -> torch.Tensor:
        """A whole (possibly mixed zh/en) utterance -> ``[dim, len(phonemes.phones)]``.

        Computed per language segment, as upstream does: Mandarin runs get BERT
        features, the rest zeros, concatenated in phone order.
        """
        parts = [self.segment_features(segment) for segment in phonemes.segments]
        if not parts:
            return torch.zeros(self._dim, len(phonemes.phones))
        features = torch.cat(parts, dim=1)  # [dim, n_phones]
        if features.shape[1] != len(phonemes.phones):
            raise FeatureError(
                "word2ph_mismatch",
                f"segments give {features.shape[1]} phones, utterance has {len(phonemes.phones)}",
            )
        return features

    def _char_phone_features(self, text: str, word2ph: list[int]) -> torch.Tensor:
        if len(word2ph) != len(text):
            raise FeatureError(
                "word2ph_mismatch", f"{len(word2ph)} word2ph entries for {len(text)} characters"
            )
        if any(count < 0 for count in word2ph):
            raise FeatureError("word2ph_mismatch", "word2ph has a negative count")
        if len(text) > self._max_chars:
            raise FeatureError(
                "text_too_long", f"{len(text)} characters; BERT takes at most {self._max_chars}"
            )
        # Tokenize character by character so each char maps to known token positions,
        # whatever the tokenizer does with it (hanzi and marks: exactly one token, as
        # upstream's whole-string tokenization gives; a char with no token gets zeros).
        token_ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for char in text:
            ids = self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(char))
            spans.append((len(token_ids), len(token_ids) + len(ids)))
            token_ids.extend(ids)
        ids = [self.tokenizer.cls_token_id, *token_ids, self.tokenizer.sep_token_id]
        with torch.inference_mode():
            input_ids = torch.tensor([ids], device=self.device)  # [1, n_tokens + 2]
            output = self.model(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                token_type_ids=torch.zeros_like(input_ids),
                output_hidden_states=True,
            )
            hidden = output.hidden_states[_HIDDEN_LAYER][0, 1:-1].float().cpu()  # [n_tokens, dim]
        chars = torch.zeros(len(text), self._dim)  # [n_chars, dim]
        for index, (start, end) in enumerate(spans):
            if end > start:
                chars[index] = hidden[start:end].mean(dim=0)
        counts = torch.tensor(word2ph, dtype=torch.long)
        phones = torch.repeat_interleave(chars, counts, dim=0)  # [n_phones, dim]
        return phones.T.contiguous()  # [dim, n_phones]
