"""Mandarin grapheme-to-phoneme for the v2 symbol set: two symbols per character.

Each character becomes ``[initial, final+tone]`` in the opencpop-strict convention that
the pretrained models saw: zero-initial syllables get the pseudo-initials ``AA``/``EE``/
``OO`` (a…, e…, o…) or ``y``/``w`` (yi → y i, wu → w u); ``zhi chi shi ri`` use the
final ``ir`` and ``zi ci si`` use ``i0``; ü is written ``v`` (ju → j v). So ``word2ph``
is 2 per character and 1 per punctuation mark, which the BERT features rely on.

Readings come from pypinyin's phrase dictionary over jieba words, which resolves most
polyphones by context (银行 yin2 hang2, 行长 hang2 zhang3); upstream's g2pW model is
not used. Tone sandhi follows :mod:`.tone_sandhi`. Erhua: a word-final 儿 (花儿) stays a
syllable of its own (keeping 2 phones per character) but takes the previous
syllable's tone, as upstream does; 女儿, 婴儿 and similar keep er2.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from voicemill.text.symbols import PUNCTUATION, is_symbol
from voicemill.text.tone_sandhi import apply_cross_word_three_tone, apply_word_sandhi

if TYPE_CHECKING:
    from voicemill.text.lexicon import Lexicon

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j",
             "q", "x", "r", "z", "c", "s")  # fmt: skip
_ZERO_INITIAL = {"a": "AA", "e": "EE", "o": "OO"}
_Y_FINALS = {"i": "i", "in": "in", "ing": "ing", "u": "v", "ue": "ve", "uan": "van", "un": "vn",
             "ou": "iu", "ong": "iong", "o": "o"}  # fmt: skip
_W_FINALS = {"u": "u", "ei": "ui", "en": "un", "eng": "eng"}
_SYLLABIC_NASALS = {"n": ("EE", "en"), "ng": ("EE", "en"), "m": ("m", "u"), "hm": ("h", "eng"),
                    "hng": ("h", "eng")}  # fmt: skip
_NOT_ERHUA = frozenset(
    {"女儿", "儿子", "幼儿", "婴儿", "孤儿", "少儿", "健儿", "男儿", "胎儿", "患儿", "新生儿",
     "托儿所", "儿童", "侄儿", "孙儿", "宠儿", "混血儿", "弃儿", "乞儿", "骄儿", "犬儿"}
)  # fmt: skip
UNKNOWN_PAIR = ("UNK", "UNK")


def syllable_phones(syllable: str) -> tuple[str, str]:
    """``zhang3`` → (``zh``, ``ang3``); raises ValueError for a non-Mandarin syllable."""
    match = re.fullmatch(r"([a-zü]+)([1-5])", syllable.lower().replace("ü", "v"))
    if match is None:
        raise ValueError(f"not a TONE3 pinyin syllable: {syllable!r}")
    body, tone = match.groups()
    body = body.replace("ê", "e")
    if body in _SYLLABIC_NASALS:
        initial, final = _SYLLABIC_NASALS[body]
        return initial, final + tone
    initial, final = _split_initial(body)
    symbol = final + tone
    if not (is_symbol(initial) and is_symbol(symbol)):
        raise ValueError(f"pinyin {syllable!r} has no v2 symbols ({initial} {symbol})")
    return initial, symbol


def _split_initial(body: str) -> tuple[str, str]:
    if body.startswith("y"):
        rest = body[1:]
        return "y", _Y_FINALS.get(rest, "i" + rest if not rest.startswith("i") else rest)
    if body.startswith("w"):
        rest = body[1:]
        return "w", _W_FINALS.get(rest, "u" + rest)
    if body[0] in _ZERO_INITIAL:
        return _ZERO_INITIAL[body[0]], body
    for initial in _INITIALS:
        if body.startswith(initial) and len(body) > len(initial):
            final = body[len(initial) :]
            if initial in {"j", "q", "x"} and final.startswith("u"):
                final = "v" + final[1:]  # ju, que, xuan: the u is ü
            elif initial in {"n", "l"} and final == "ue":
                final = "ve"
            elif final == "i" and initial in {"zh", "ch", "sh", "r"}:
                final = "ir"
            elif final == "i" and initial in {"z", "c", "s"}:
                final = "i0"
            return initial, final
    raise ValueError(f"no initial/final split for {body!r}")


def chinese_g2p(norm_text: str, lexicon: Lexicon | None = None) -> tuple[list[str], list[int]]:
    """Phones and ``word2ph`` (2 per hanzi, 1 per mark) of normalized Mandarin text.

    Characters other than hanzi and the v2 marks are ignored (the frontend routes Latin
    words to the English G2P before this). Lexicon words are used verbatim, unsandhied.
    """
    text = "".join(ch for ch in norm_text if _HAN_RE.match(ch) or ch in PUNCTUATION)
    words: list[list[str]] = []  # per word: TONE3 syllables, or fixed phones for lexicon hits
    fixed: list[bool] = []
    for chunk, custom in _lexicon_chunks(text, lexicon):
        if custom is not None:
            words.append(list(custom))
            fixed.append(True)
            continue
        for word, pos in _segment(chunk):
            words.append(_word_syllables(word, pos))
            fixed.append(False)
    run: list[list[str]] = []  # cross-word sandhi never reaches through a lexicon word
    for word, is_fixed in zip(words, fixed, strict=True):
        if is_fixed:
            apply_cross_word_three_tone(run)
            run = []
        else:
            run.append(word)
    apply_cross_word_three_tone(run)
    phones: list[str] = []
    word2ph: list[int] = []
    for word, is_fixed in zip(words, fixed, strict=True):
        if is_fixed:
            phones.extend(word)
            word2ph.extend([2] * (len(word) // 2))
            continue
        for syllable in word:
            if syllable in PUNCTUATION:
                phones.append(syllable)
                word2ph.append(1)
            else:
                phones.extend(_safe_phones(syllable))
                word2ph.append(2)
    return phones, word2ph


def _safe_phones(syllable: str) -> tuple[str, str]:
    try:
        return syllable_phones(syllable)
    except ValueError:
        return UNKNOWN_PAIR  # a hanzi pypinyin cannot read; keep 2 phones for word2ph


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
    """jieba words with POS tags; marks come out as single-character words."""
    out: list[tuple[str, str]] = []
    for pair in _posseg().cut(text):
        word, pos = pair.word, pair.flag
        if all(ch in PUNCTUATION for ch in word):
            out.extend((ch, "x") for ch in word)
        else:
            out.append((word, pos))
    return _merge_bu_yi(out)


def _merge_bu_yi(words: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Attach a lone 不/一 to the next word so their sandhi sees the following tone.

    jieba often cuts 不去 into 不 + 去; 看一看 becomes one word as well.
    """
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word, pos = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word in {"不", "一"} and nxt is not None and nxt[0][0] not in PUNCTUATION:
            if word == "一" and out and out[-1][0] == nxt[0]:
                prev_word, prev_pos = out.pop()
                out.append((prev_word + word + nxt[0], prev_pos))  # 看一看
            else:
                out.append((word + nxt[0], nxt[1]))
            i += 2
            continue
        out.append((word, pos))
        i += 1
    return out


@lru_cache(maxsize=1)
def _posseg():
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


def _word_syllables(word: str, pos: str) -> list[str]:
    """TONE3 syllables of one word, after erhua and tone sandhi; marks pass through."""
    if all(ch in PUNCTUATION for ch in word):
        return list(word)
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
    if len(syllables) != len(word):  # pypinyin grouped an unreadable run; go per character
        syllables = [
            (lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True) or ["?"])[0]
            for ch in word
        ]
    syllables = apply_word_sandhi(word, pos, syllables)
    if len(word) > 1 and word[-1] == "儿" and word not in _NOT_ERHUA and pos not in {"nr", "j"}:
        previous = syllables[-2]
        if previous[-1].isdigit() and syllables[-1].startswith("er"):
            syllables[-1] = "er" + previous[-1]
    return syllables
