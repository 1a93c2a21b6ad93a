"""Text handling for speech data: normalization, sentence splitting, language detection."""

from voicemill.text.normalize import (
    SUPPORTED_LANGUAGES,
    TextError,
    detect_language,
    normalize_text,
    split_sentences,
    words_for_alignment,
)

__all__ = [
    "SUPPORTED_LANGUAGES",
    "TextError",
    "detect_language",
    "normalize_text",
    "split_sentences",
    "words_for_alignment",
]
