"""Mandarin grapheme-to-phoneme for the v2 symbol set, equal to upstream's phones.

The official models learned upstream GPT-SoVITS's phones, so this follows its
``chinese2`` frontend step for step (tests/parity compares the two on a sentence
list):

1. The normalized text is cut after every mark (``! ? … , . -``); Latin letters go.
2. jieba's part-of-speech segmentation gives words, which :mod:`.tone_sandhi` regroups.
3. pypinyin reads each word with its phrase dictionary (so 银行 is yin2 hang2 and
   行长 hang2 zhang3); upstream's default neural polyphone model (g2pW) is not on
   PyPI, and upstream without it reads exactly this way.
4. Tone sandhi, then erhua: a word-final 儿 stays a syllable of its own (so ``word2ph``
   stays 2 per character) but takes the previous syllable's tone, except in listed
   words (女儿, 婴儿, ``data/zh_not_erhua_words.txt``), adjectives, abbreviations and
   names, unless listed in ``data/zh_erhua_words.txt`` (小院儿).
5. Each syllable becomes two symbols in the opencpop-strict convention
   (:func:`syllable_phones`): zero-initial syllables get ``AA``/``EE``/``OO``
   (an → AA an) or ``y``/``w`` with the written final (you → y ou, wei → w ei;
   yan → y En, ye → y E); ``zhi chi shi ri`` use ``ir`` and ``zi ci si`` use ``i0``;
   ü is ``v`` (ju → j v).

Where upstream fails, we go on: a hanzi pypinyin cannot read, or a syllable outside
the opencpop table (rua, hm), crashes upstream's frontend; here it becomes
``UNK UNK`` so the sentence is still spoken. ``word2ph`` is 2 per hanzi and 1 per
mark, which the BERT features rely on.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from voicemill.text.symbols import PUNCTUATION, is_symbol
from voicemill.text.tone_sandhi import apply_sandhi, merge_for_sandhi

if TYPE_CHECKING:
    from voicemill.text.lexicon import Lexicon

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SENTENCE_BREAK_RE = re.compile(rf"(?<=[{re.escape(''.join(PUNCTUATION))}])\s*")
_LATIN_RE = re.compile("[a-zA-Z]+")
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j",
             "q", "x", "r", "z", "c", "s")  # fmt: skip
_ZERO_INITIAL = {"a": "AA", "e": "EE", "o": "OO"}
# y-syllables whose symbol final is not simply the spelling after the y.
_Y_FINALS = {"an": "En", "e": "E", "u": "v", "uan": "van", "ue": "ve", "un": "vn"}
# Written finals of syllables with an initial, spelled out as pypinyin gives them.
_CONTRACTED = {"uei": "ui", "iou": "iu", "uen": "un"}
# Finals without an initial, as spelled with y/w (pypinyin's strict style has none).
_ZERO_INITIAL_SPELLING = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}
_ZERO_INITIAL_PREFIX = {"v": "yu", "e": "e", "i": "y", "u": "w"}
UNKNOWN_PAIR = ("UNK", "UNK")


def syllable_phones(syllable: str) -> tuple[str, str]:
    """``zhang3`` → (``zh``, ``ang3``); raises ValueError for a non-Mandarin syllable.

    Takes written pinyin in TONE3 style (ü as ``v`` or ``ü``), as the lexicon does.
    """
    match = re.fullmatch(r"([a-zü]+)([1-5])", syllable.lower().replace("ü", "v"))
    if match is None:
        raise ValueError(f"not a TONE3 pinyin syllable: {syllable!r}")
    body, tone = match.groups()
    pair = _pinyin_symbols(body)
    if pair is None:
        raise ValueError(f"pinyin {syllable!r} has no v2 symbols")
    return pair[0], pair[1] + tone


@cache
def _pinyin_symbols(pinyin: str) -> tuple[str, str] | None:
    """Initial and toneless final symbols of a written syllable (``you`` → y, ou)."""
    if not pinyin:
        return None
    if pinyin[0] in _ZERO_INITIAL:
        initial, final = _ZERO_INITIAL[pinyin[0]], pinyin  # an → AA an, er → EE er
    elif pinyin[0] == "y":
        rest = pinyin[1:]
        initial, final = "y", _Y_FINALS.get(rest, rest)  # you → y ou, yu → y v
    elif pinyin[0] == "w":
        initial, final = "w", pinyin[1:]  # wei → w ei
    else:
        initial = next((i for i in _INITIALS if pinyin.startswith(i)), "")
        final = pinyin[len(initial) :]
        if not initial or not final:
            return None
        if initial in {"j", "q", "x"} and final.startswith("u"):
            final = "v" + final[1:]  # ju, que, xuan: the u is ü
        elif final == "i" and initial in {"zh", "ch", "sh", "r"}:
            final = "ir"
        elif final == "i" and initial in {"z", "c", "s"}:
            final = "i0"
    if not (is_symbol(initial) and any(is_symbol(final + tone) for tone in "12345")):
        return None
    return initial, final


def _phones(initial: str, final: str) -> list[str]:
    """Symbols of one (initial, final+tone) pair from pypinyin's strict style."""
    if initial == final:  # pypinyin passes marks (and hanzi it cannot read) through
        return [initial] if initial in PUNCTUATION else list(UNKNOWN_PAIR)
    body, tone = final[:-1], final[-1]
    if tone not in "12345":
        return list(UNKNOWN_PAIR)
    if initial:
        pinyin = initial + _CONTRACTED.get(body, body)
    elif body in _ZERO_INITIAL_SPELLING:
        pinyin = _ZERO_INITIAL_SPELLING[body]
    elif body and body[0] in _ZERO_INITIAL_PREFIX:
        pinyin = _ZERO_INITIAL_PREFIX[body[0]] + body[1:]
    else:
        pinyin = body
    pair = _pinyin_symbols(pinyin)
    return [pair[0], pair[1] + tone] if pair is not None else list(UNKNOWN_PAIR)


@cache
def _word_set(name: str) -> frozenset[str]:
    text = resources.files("voicemill.text").joinpath(f"data/{name}").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def chinese_g2p(norm_text: str, lexicon: Lexicon | None = None) -> tuple[list[str], list[int]]:
    """Phones and ``word2ph`` (2 per hanzi, 1 per mark) of normalized Mandarin text.

    ``norm_text`` is what :func:`voicemill.text.normalize_zh.normalize_zh` returns:
    hanzi and v2 marks. Lexicon words are read verbatim, without sandhi, and split the
    text around them.
    """
    phones: list[str] = []
    word2ph: list[int] = []
    for chunk, custom in _lexicon_chunks(norm_text, lexicon):
        if custom is not None:
            phones.extend(custom)
            word2ph.extend([2] * (len(custom) // 2))
            continue
        for sentence in _SENTENCE_BREAK_RE.split(chunk):
            if sentence.strip():
                _sentence_phones(_LATIN_RE.sub("", sentence), phones, word2ph)
    return phones, word2ph


def _sentence_phones(sentence: str, phones: list[str], word2ph: list[int]) -> None:
    for word, pos in merge_for_sandhi(_segment(sentence)):
        if pos == "eng":
            continue
        initials, finals = _readings(word)
        finals = apply_sandhi(word, pos, finals)
        finals = _erhua(finals, word, pos)
        for initial, final in zip(initials, finals, strict=True):
            if initial == final and len(initial) > 1 and all(c in PUNCTUATION for c in initial):
                marks = list(initial)  # pypinyin groups a run of marks into one item
                phones.extend(marks)
                word2ph.extend([1] * len(marks))
                continue
            pair = _phones(initial, final)
            phones.extend(pair)
            word2ph.append(len(pair))


def _readings(word: str) -> tuple[list[str], list[str]]:
    """pypinyin's strict initials and finals (neutral tone 5) of one word."""
    from pypinyin import Style, lazy_pinyin

    initials = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS)
    finals = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)
    return initials, finals


def _erhua(finals: list[str], word: str, pos: str) -> list[str]:
    """A word-final 儿 keeps its syllable but reads in the tone before it (花儿 → er1)."""
    last = len(finals) - 1
    if finals and last < len(word) and word[last] == "儿" and finals[last] == "er1":
        finals[last] = "er2"
    erhua, not_erhua = _word_set("zh_erhua_words.txt"), _word_set("zh_not_erhua_words.txt")
    if word not in erhua and (word in not_erhua or pos in {"a", "j", "nr"}):
        return finals
    if len(finals) != len(word) or len(word) < 2:
        return finals
    if word[-1] == "儿" and finals[-1] in {"er2", "er5"} and word[-2:] not in not_erhua:
        finals[-1] = "er" + finals[-2][-1]
    return finals


def _lexicon_chunks(text: str, lexicon: Lexicon | None) -> list[tuple[str, tuple[str, ...] | None]]:
    """Split text into lexicon hits (longest match first) and the plain text between."""
    if lexicon is None or not lexicon.chinese:
        return [(text, None)] if text else []
    longest = max(len(word) for word in lexicon.chinese)
    chunks: list[tuple[str, tuple[str, ...] | None]] = []
    plain_start = i = 0
    while i < len(text):
        for size in range(min(longest, len(text) - i), 0, -1):
            custom = lexicon.chinese.get(text[i : i + size])
            if custom is not None:
                if plain_start < i:
                    chunks.append((text[plain_start:i], None))
                chunks.append((text[i : i + size], custom))
                i += size
                plain_start = i
                break
        else:
            i += 1
    if plain_start < len(text):
        chunks.append((text[plain_start:], None))
    return chunks


def _segment(text: str) -> list[tuple[str, str]]:
    """jieba's words with their part-of-speech flags."""
    return [(pair.word, pair.flag) for pair in _posseg().cut(text)]


@cache
def _posseg():  # jieba.posseg, which has no type hints
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg
