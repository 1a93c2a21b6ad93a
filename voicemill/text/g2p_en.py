"""English grapheme-to-phoneme for the v2 symbol set, equal to upstream's phones.

The pretrained voices learned upstream GPT-SoVITS's English phones, so this follows
its ``english.g2p`` step for step on normalized text (:func:`~.normalize_en.normalize_en`;
tests/parity compares the two):

1. Tokens are ASCII words (one inner apostrophe allowed: "don't") and the marks
   ``. , ? ! -``; everything else was removed by normalization or is skipped.
2. A custom :class:`~.lexicon.Lexicon` entry wins over every rule below.
3. A single letter reads from the dictionary ("a" is AH0), except a capital "A" (EY1).
4. A homograph (:mod:`.homographs`) takes the reading its tagged part of speech picks.
5. Upstream's dictionary (:mod:`.en_dictionary`), first pronunciation; then its name
   dictionary for Title-case words ("Aaditya").
6. Unknown words of up to three letters are spelled ("xyz"; "a" as EY1).
7. An unknown possessive reads its base plus S after a voiceless consonant, AH0 Z
   after a sibilant, Z otherwise.
8. An unknown compound that ``wordsegment`` splits is read part by part.
9. The rest goes to upstream's neural letter-to-sound model (:mod:`.en_neural_g2p`).

Phones outside the v2 symbols are dropped as upstream does (the model's unstressed
``UW``), its unknown becomes ``UNK`` and an apostrophe left by spelling becomes ``-``.
Output shorter than four phones gets a leading ``,``.

``word2ph`` does not exist for English: upstream returns ``None`` because BERT
features are zeros for every non-Mandarin phone, so nothing needs per-word counts.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from voicemill.text.en_dictionary import dictionary_phones, name_phones
from voicemill.text.en_neural_g2p import predict_phones
from voicemill.text.homographs import homograph_phones, is_homograph, tag_homographs
from voicemill.text.symbols import UNKNOWN, is_symbol

if TYPE_CHECKING:
    from voicemill.text.lexicon import Lexicon

MIN_PHONES = 4  # shorter English output gets a leading "," (upstream rule)

_TOKEN_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[.,?!\-]")
_LETTER_RE = re.compile(r"[a-z]")
_POSSESSIVE_RE = re.compile(r"[a-z]+'s")
_VOICELESS_ENDINGS = frozenset({"P", "T", "K", "F", "TH", "HH"})
_SIBILANT_ENDINGS = frozenset({"S", "Z", "SH", "ZH", "CH", "JH"})
_MODEL_NOISE = frozenset({" ", "<pad>", "UW", "</s>", "<s>"})


def english_g2p(norm_text: str, lexicon: Lexicon | None = None) -> list[str]:
    """v2 phones of normalized English text; marks ``. , ? ! -`` pass through."""
    tokens = _TOKEN_RE.findall(norm_text)
    tags: list[str | None] = [None] * len(tokens)
    if any(is_homograph(token) for token in tokens):
        tags = tag_homographs(tokens)
    phones: list[str] = []
    for token, tag in zip(tokens, tags, strict=True):
        phones.extend(_symbols(token_phones(token, tag, lexicon)))
    if len(phones) < MIN_PHONES:
        phones.insert(0, ",")
    return phones


def token_phones(token: str, tag: str | None = None, lexicon: Lexicon | None = None) -> list[str]:
    """Raw phones of one token (a word or a mark) before the symbol filter.

    ``tag`` is the Penn tag of a homograph (see :func:`.homographs.tag_homographs`);
    without one a homograph reads as a noun.
    """
    if lexicon is not None and (custom := lexicon.english(token)) is not None:
        return list(custom)
    word = token.lower()
    if not _LETTER_RE.search(word):
        return [token]
    if len(word) == 1:
        return ["EY1"] if token == "A" else list(_dictionary(word))
    if is_homograph(word):
        return list(homograph_phones(word, tag or "NN"))
    return word_phones(token, lexicon)


def word_phones(word: str, lexicon: Lexicon | None = None) -> list[str]:
    """Raw phones of a (non-homograph) word, steps 2 and 5-9 of the module docstring."""
    if lexicon is not None and (custom := lexicon.english(word)) is not None:
        return list(custom)
    lower = word.lower()
    if len(lower) > 1 and (known := dictionary_phones(lower)) is not None:
        return list(known)
    if word.istitle() and (name := name_phones(lower)) is not None:
        return list(name)
    if len(lower) <= 3:
        return spell_letters(lower)
    if _POSSESSIVE_RE.fullmatch(lower):
        base = word_phones(lower[:-2], lexicon)
        if not base:
            return [*base, "Z"]
        if base[-1] in _VOICELESS_ENDINGS:
            return [*base, "S"]
        if base[-1] in _SIBILANT_ENDINGS:
            return [*base, "AH0", "Z"]
        return [*base, "Z"]
    parts = _segmenter().segment(lower)
    if len(parts) == 1:
        return predict_phones(lower)
    return [phone for part in parts for phone in word_phones(part, lexicon)]


def spell_letters(word: str) -> list[str]:
    """Letter names of a short unknown word ("xyz"); "a" is EY1, an apostrophe stays."""
    phones: list[str] = []
    for letter in word.lower():
        if letter == "a":
            phones.append("EY1")
        elif not letter.isalpha():
            phones.append(letter)
        else:
            phones.extend(_dictionary(letter))
    return phones


def _dictionary(word: str) -> tuple[str, ...]:
    phones = dictionary_phones(word)
    if phones is None:
        raise KeyError(f"no dictionary entry for {word!r}")
    return phones


def _symbols(phones: list[str]) -> list[str]:
    """Upstream's filter: model noise out, its unknown as UNK, "'" as "-", non-symbols out."""
    out: list[str] = []
    for phone in phones:
        if phone in _MODEL_NOISE:
            continue
        if phone == "<unk>":
            phone = UNKNOWN
        if phone == "'":
            phone = "-"
        if is_symbol(phone):
            out.append(phone)
    return out


@cache
def _segmenter() -> Any:
    """``wordsegment``'s unigram/bigram model (~1 s to load; first compound only)."""
    import wordsegment

    segmenter = wordsegment.Segmenter()
    segmenter.load()
    return segmenter
