"""English grapheme-to-phoneme for the v2 symbol set: ARPAbet with stress digits.

Upstream uses CMUdict plus the neural g2p_en model for unknown words; g2p_en cannot run
offline here, so unknown words go, in order, through: the custom lexicon, CMUdict,
acronym spelling (all-caps words), a possessive/compound split into known words, and
finally the letter-to-sound rules of :mod:`voicemill.align.pronounce` with a stress
guess. Homographs take CMUdict's first entry (upstream's POS tagging is not used).

``word2ph`` does not exist for English: upstream returns ``None`` because BERT
features are zeros for every non-Mandarin phone, so nothing needs per-word counts.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from voicemill.align.pronounce import cmudict_pronunciations, letter_to_phones
from voicemill.text.symbols import PUNCTUATION

if TYPE_CHECKING:
    from voicemill.text.lexicon import Lexicon

MIN_PHONES = 4  # shorter English output gets a leading "," (upstream rule)

# Latin words only: other scripts have no English reading and are skipped.
_TOKEN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:'[A-Za-z\u00c0-\u024f]+)*|[!?…,.\-]")
_VOWELS = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)
_LETTER_NAMES: dict[str, str] = {
    "a": "EY1", "b": "B IY1", "c": "S IY1", "d": "D IY1", "e": "IY1", "f": "EH1 F",
    "g": "JH IY1", "h": "EY1 CH", "i": "AY1", "j": "JH EY1", "k": "K EY1", "l": "EH1 L",
    "m": "EH1 M", "n": "EH1 N", "o": "OW1", "p": "P IY1", "q": "K Y UW1", "r": "AA1 R",
    "s": "EH1 S", "t": "T IY1", "u": "Y UW1", "v": "V IY1", "w": "D AH1 B AH0 L Y UW0",
    "x": "EH1 K S", "y": "W AY1", "z": "Z IY1",
}  # fmt: skip


def english_g2p(norm_text: str, lexicon: Lexicon | None = None) -> list[str]:
    """Phones of normalized English text (see :func:`normalize_for_tts`).

    Marks ``! ? … , . -`` pass through as their own symbols; output shorter than
    four phones is prefixed with ``,`` as upstream does, so tiny inputs still decode.
    """
    phones: list[str] = []
    for token in _TOKEN_RE.findall(norm_text):
        if token in PUNCTUATION:
            phones.append(token)
        else:
            phones.extend(word_phones(token, lexicon))
    if len(phones) < MIN_PHONES:
        phones.insert(0, ",")
    return phones


def word_phones(word: str, lexicon: Lexicon | None = None) -> list[str]:
    """ARPAbet phones (stress digits included) of one word; never empty."""
    if lexicon is not None:
        custom = lexicon.english(word)
        if custom is not None:
            return list(custom)
    folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    known = _known(word) or _known(folded)  # café → cafe
    if known is not None:
        return known
    letters = re.sub(r"[^a-z]", "", folded.lower())
    if (word.isupper() and 1 < len(letters) <= 6) or not re.search(r"[aeiouy]", letters):
        return spell_letters(letters or word)
    if word.lower().endswith("'s") and (base := _known(word[:-2])) is not None:
        return [*base, "Z" if base[-1] not in {"P", "T", "K", "F", "TH"} else "S"]
    return _compound(letters) or guess_phones(letters)


def spell_letters(word: str) -> list[str]:
    """Letter names, for acronyms such as "GPT" → JH IY1 P IY1 T IY1."""
    phones: list[str] = []
    for ch in word.lower():
        phones.extend(_LETTER_NAMES.get(ch, "").split())
    return phones or ["AH0"]


def guess_phones(word: str) -> list[str]:
    """Letter-to-sound guess with primary stress on the first vowel, the rest unstressed."""
    phones: list[str] = []
    stressed = False
    for phone in letter_to_phones(word).split():
        if phone in _VOWELS:
            phone += "0" if stressed else "1"
            stressed = True
        phones.append(phone)
    return phones


def _known(word: str) -> list[str] | None:
    prons = cmudict_pronunciations(word)
    return list(prons[0]) if prons else None


def _compound(letters: str) -> list[str] | None:
    """Two known words making up an unknown one ("voicemill" → voice + mill)."""
    for cut in range(len(letters) - 3, 2, -1):
        head, tail = _known(letters[:cut]), _known(letters[cut:])
        if head is not None and tail is not None:
            return head + tail
    return None
