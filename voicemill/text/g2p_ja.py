"""Japanese grapheme-to-phoneme for the v2 symbol set, through OpenJTalk (``ja`` extra).

Upstream GPT-SoVITS v2 (``text/japanese.py`` with ``with_prosody=True``) cuts the text
at punctuation, reads each piece with pyopenjtalk's full-context labels in espnet's
``g2p_prosody`` scheme, drops the utterance-edge symbols and puts each mark in as its
own symbol. This module follows that scheme, written from the labels:

* phones are OpenJTalk's (``k o N n i ch i w a``, ``cl`` for っ, ``N`` for ん);
  devoiced vowels (``U`` in です) are written lower-case, as upstream does;
* after a phone, ``[`` where pitch rises (second mora of an accent phrase), ``]``
  where it falls (after the accent nucleus); a pause inside a piece is ``_``;
* an accent-phrase border is espnet's ``#``, which is not a v2 symbol: upstream's
  cleaner turns it into ``UNK``, so the pretrained v2 models saw ``UNK`` there and
  this module emits ``UNK`` too (ids must match theirs);
* any other phone missing from the v2 table (OpenJTalk's ``ty`` of テュ) is ``UNK``.

``word2ph``: upstream has no BERT for Japanese (its features are zeros), so the counts
only have to cover every phone: one entry per character of the normalized text, each
piece's phones on its first character, 1 per mark and 0 elsewhere.

pyopenjtalk comes from the optional ``pyopenjtalk-plus`` package, which bundles the
OpenJTalk dictionary and so never downloads anything; it is imported on first use.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise
from typing import TYPE_CHECKING

from voicemill.text.normalize import TextError, tts_marks
from voicemill.text.symbols import PUNCTUATION, UNKNOWN, is_symbol

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from voicemill.text.lexicon import Lexicon

INSTALL_HINT = "pip install 'voicemill[ja]'"
ACCENT_PHRASE_BORDER = UNKNOWN  # espnet's "#", as the pretrained v2 models saw it
PAUSE = "_"

_CURRENCY = {"¥": "円", "$": "ドル", "€": "ユーロ", "£": "ポンド"}
_CURRENCY_RE = re.compile(r"(?P<sym>[¥$€£])\s?(?P<num>\d+(?:\.\d+)?)")
_THOUSANDS_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)")
_SPACE_RE = re.compile(r"(?<!\d) | (?!\d)")  # spaces go, except between two digits
# Pieces are cut at whitespace and marks; a "." between digits is a decimal point.
_BREAK_RE = re.compile(r"(\s+|[!?…,\-]|(?<!\d)\.|\.(?!\d))")
_PHONE_RE = re.compile(r"-(.+?)\+")
_A1_RE = re.compile(r"/A:(-?\d+)\+")
_A2_RE = re.compile(r"\+(\d+)\+")
_A3_RE = re.compile(r"\+(\d+)/")
_F1_RE = re.compile(r"/F:(\d+)_")
_DEVOICED = frozenset("AEIOU")
_MORA_FINAL = frozenset({"a", "e", "i", "o", "u", "N", "cl"})


def normalize_japanese(text: str) -> str:
    """Text OpenJTalk can read, with punctuation as v2 marks.

    NFKC turns full-width Latin/digits into ASCII and half-width katakana into
    full-width; thousands separators go (so "1,000" is not a pause), % and currency
    signs become words, other symbols are dropped like in the zh/en paths, and spaces
    go because Japanese does not write them (but "1 2" keeps its numbers apart).
    Numbers themselves are left for OpenJTalk, which reads them in context (百個).
    """
    text = unicodedata.normalize("NFKC", text).replace("...", "…")
    text = _THOUSANDS_RE.sub(lambda m: m.group().replace(",", ""), text)
    text = _CURRENCY_RE.sub(lambda m: m["num"] + _CURRENCY[m["sym"]], text)
    text = text.replace("%", "パーセント")
    return _SPACE_RE.sub("", tts_marks(text))


def japanese_g2p(norm_text: str, lexicon: Lexicon | None = None) -> tuple[list[str], list[int]]:
    """Phones and ``word2ph`` of normalized Japanese text (see :func:`normalize_japanese`).

    Lexicon words are replaced by their kana readings before OpenJTalk reads a piece.
    Raises ``TextError`` (``missing_extra``) when the ``ja`` extra is not installed.
    """
    readings = _lexicon_readings(lexicon)
    phones: list[str] = []
    word2ph: list[int] = []
    for piece in _BREAK_RE.split(norm_text):
        if not piece:
            continue
        if piece in PUNCTUATION:
            phones.append(piece)
            word2ph.append(1)
            continue
        piece_phones = _piece_phones(readings(piece))
        phones.extend(piece_phones)
        word2ph.extend([len(piece_phones)] + [0] * (len(piece) - 1))
    return phones, word2ph


def _lexicon_readings(lexicon: Lexicon | None) -> Callable[[str], str]:
    """Text with lexicon words (longest first) replaced by their kana readings."""
    if lexicon is None or not lexicon.japanese:
        return lambda text: text
    readings = lexicon.japanese
    pattern = re.compile("|".join(re.escape(w) for w in sorted(readings, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda m: readings[m.group()], text)


def _piece_phones(piece: str) -> list[str]:
    """v2 phones with pitch marks of one mark-free piece of text."""
    if not any(ch.isalnum() for ch in piece):
        return []  # whitespace or leftovers: OpenJTalk would only warn "No phoneme"
    pyopenjtalk = _pyopenjtalk()
    labels = pyopenjtalk.make_label(pyopenjtalk.run_frontend(piece))
    phones: list[str] = []
    for label, following in pairwise(labels):
        phone = _PHONE_RE.search(label).group(1)
        if phone == "sil":
            continue  # utterance edges; upstream drops its ^ and $/? markers too
        if phone == "pau":
            phones.append(PAUSE)
            continue
        phone = phone.lower() if phone in _DEVOICED else phone
        phones.append(phone if is_symbol(phone) else UNKNOWN)
        a1, a2, a3 = _field(_A1_RE, label), _field(_A2_RE, label), _field(_A3_RE, label)
        a2_next = _field(_A2_RE, following)
        if a3 == 1 and a2_next == 1 and phone in _MORA_FINAL:
            phones.append(ACCENT_PHRASE_BORDER)
        elif a1 == 0 and a2 is not None and a2_next == a2 + 1 and a2 != _field(_F1_RE, label):
            phones.append("]")
        elif a2 == 1 and a2_next == 2:
            phones.append("[")
    return phones


def _field(pattern: re.Pattern[str], label: str) -> int | None:
    """One numeric full-context feature; ``None`` where the label says ``xx``."""
    match = pattern.search(label)
    return int(match.group(1)) if match else None


def _pyopenjtalk() -> ModuleType:
    try:
        import pyopenjtalk
    except ImportError as exc:
        raise TextError(
            "missing_extra",
            f"Japanese text needs pyopenjtalk-plus: install the `ja` extra: {INSTALL_HINT}",
        ) from exc
    return pyopenjtalk
