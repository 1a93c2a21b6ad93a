"""Text to GPT-SoVITS v2 phonemes: the one entry point training and inference share.

The official models learned upstream GPT-SoVITS's phones, so ``text_to_phonemes``
gives the same phone ids as upstream's ``get_phones_and_bert`` for the same text
(tests/parity measures it on a sentence list; the README lists where we deliberately
differ). The steps are upstream's:

1. Double spaces collapse; the text is cut into single-language runs
   (:mod:`.segment`; in ``zh`` mode exactly where upstream cuts, which decides whether
   a number is read in Mandarin or English).
2. Each run is normalized (:func:`.normalize_zh.normalize_zh`,
   :func:`.normalize_en.normalize_en`, Japanese: :func:`.g2p_ja.normalize_japanese`)
   and read by its G2P with the custom lexicon applied first; an English run that
   comes out shorter than four phones gets a leading "," (so does a run with no
   words at all, e.g. a lone "/" between hanzi: upstream pauses there too).
3. Phones become v2 symbol ids; anything outside the table is ``UNK``.
4. Input that yields fewer than six phones is read again with a leading "." so the
   models get enough context, as upstream does.

Caches built on these phones key on :data:`.version.FRONTEND_VERSION`.

``word2ph`` follows upstream: for Mandarin it gives the phones of each character
(2) and mark (1), used to spread per-character BERT features over phones; English
has none (upstream returns ``None``; its BERT features are zeros). Japanese BERT
features are zeros too, so its counts only cover the phones (see :mod:`.g2p_ja`).
For mixed text the top-level ``word2ph`` is ``None`` and each segment carries its
own, as upstream computes BERT per language segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicemill.text.g2p_en import english_g2p
from voicemill.text.g2p_ja import japanese_g2p, normalize_japanese
from voicemill.text.g2p_zh import chinese_g2p
from voicemill.text.lexicon import Lexicon
from voicemill.text.normalize import TextError, split_sentences
from voicemill.text.normalize_en import normalize_en
from voicemill.text.normalize_zh import normalize_zh
from voicemill.text.segment import split_by_language
from voicemill.text.symbols import PUNCTUATION, UNKNOWN, cleaned_text_to_sequence, is_symbol

FRONTEND_LANGUAGES = frozenset({"auto", "en", "zh", "ja"})
MIN_PHONES = 6  # shorter input is read again after a leading "." (upstream rule)
# Hanzi/kanji and kana: scripts written without spaces between words.
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_CLAUSE_BREAK_RE = re.compile(r"(?<=[,，、;；:：])")


@dataclass(frozen=True)
class PhonemeSegment:
    """One single-language run: its normalized text, phones and (zh, ja) word2ph."""

    language: str
    norm_text: str
    phones: tuple[str, ...]
    word2ph: tuple[int, ...] | None


@dataclass(frozen=True)
class Phonemes:
    """Model input for one utterance: v2 phones, their ids and per-character counts."""

    phones: list[str]
    ids: list[int]
    word2ph: list[int] | None
    norm_text: str
    segments: tuple[PhonemeSegment, ...]


def text_to_phonemes(text: str, language: str = "auto", lexicon: Lexicon | None = None) -> Phonemes:
    """Phonemes of ``text``.

    ``language``: ``en`` reads everything as English (CJK dropped); ``zh`` reads hanzi
    as Mandarin and Latin runs as English, cut as upstream's "zh" mode cuts; ``ja``
    reads kanji and kana as Japanese; ``auto`` is ``zh`` for text without kana and
    tells Japanese from Mandarin by kana otherwise (see :mod:`.segment`). Raises
    ``TextError`` (``empty_text``) when nothing speakable remains, e.g. for emoji-only
    input, and (``missing_extra``) for Japanese without the ``ja`` extra.
    """
    if language not in FRONTEND_LANGUAGES:
        raise TextError(
            "unsupported_language",
            f"language {language!r} is not one of {sorted(FRONTEND_LANGUAGES)}",
        )
    if not text or not text.strip():
        raise TextError("empty_text", "the text is empty")
    text = re.sub(" {2,}", " ", text)
    segments = _segments(text, language, lexicon)
    if sum(len(seg.phones) for seg in segments) < MIN_PHONES:
        segments = _segments("." + text, language, lexicon)
    phones = [phone for seg in segments for phone in seg.phones]
    if all(phone in PUNCTUATION for phone in phones):
        raise TextError("empty_text", f"nothing speakable in {text[:40]!r}")
    word2ph: list[int] | None = None
    single_language = len({seg.language for seg in segments}) == 1  # zh+ja mixes: per segment
    if single_language and all(seg.word2ph is not None for seg in segments):
        word2ph = [count for seg in segments for count in seg.word2ph or ()]
    return Phonemes(
        phones=phones,
        ids=cleaned_text_to_sequence(phones),
        word2ph=word2ph,
        norm_text="".join(seg.norm_text for seg in segments),
        segments=tuple(segments),
    )


def _segments(text: str, language: str, lexicon: Lexicon | None) -> list[PhonemeSegment]:
    if language == "en":
        runs = [("en", text)]
    else:
        cjk = "zh" if language == "zh" else "ja" if language == "ja" else "auto"
        runs = [(run.language or "zh", run.text) for run in split_by_language(text, cjk)]
    return [seg for lang, chunk in runs if (seg := _segment_phonemes(chunk, lang, lexicon))]


def _segment_phonemes(text: str, language: str, lexicon: Lexicon | None) -> PhonemeSegment | None:
    word2ph: tuple[int, ...] | None = None
    if language == "zh":
        norm_text = normalize_zh(text)
        phones, counts = chinese_g2p(norm_text, lexicon)
        word2ph = tuple(counts)
    elif language == "ja":
        norm_text = normalize_japanese(text)
        phones, counts = japanese_g2p(norm_text, lexicon)
        word2ph = tuple(counts)
    else:
        norm_text = normalize_en(text, lexicon)
        phones = english_g2p(norm_text, lexicon)
    if not phones:
        return None
    phones = [phone if is_symbol(phone) else UNKNOWN for phone in phones]
    return PhonemeSegment(language, norm_text, tuple(phones), word2ph)


def split_for_synthesis(text: str, max_chars: int = 100, min_chars: int = 5) -> list[str]:
    """Sentences of ``text`` sized for synthesis, one model call each.

    Sentences come from :func:`split_sentences`; one longer than ``max_chars`` is cut
    after clause punctuation (, 、 ; :) and fragments shorter than ``min_chars`` are
    merged into the next piece (the previous one at the end), as upstream does,
    because very short inputs synthesize badly.
    """
    language = "zh" if _CJK_RE.search(text) else "en"
    pieces: list[str] = []
    for sentence in split_sentences(text, language):
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        current = ""
        for clause in _CLAUSE_BREAK_RE.split(sentence):
            if current and len(current) + len(clause) > max_chars:
                pieces.append(current.strip())
                current = ""
            current += clause
        if current.strip():
            pieces.append(current.strip())
    merged: list[str] = []
    carry = ""  # a too-short fragment waiting to be joined with the next piece
    for piece in pieces:
        piece = _join(carry, piece) if carry else piece
        if len(piece) < min_chars:
            carry = piece
            continue
        carry = ""
        merged.append(piece)
    if carry:
        if merged:
            merged[-1] = _join(merged[-1], carry)
        else:
            merged.append(carry)
    return merged


def _join(left: str, right: str) -> str:
    """Concatenate two pieces; a space only between non-CJK ends."""
    joiner = "" if _CJK_RE.search(left[-1:] + right[:1]) else " "
    return left + joiner + right
