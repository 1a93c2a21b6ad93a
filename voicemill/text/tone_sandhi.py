"""Mandarin tone sandhi on pinyin finals, as upstream GPT-SoVITS applies it.

pypinyin gives dictionary tones; spoken Mandarin changes some of them in context, and
the official models learned the changed ones. Upstream uses PaddleSpeech's rules; this
module gives the same results so our phones equal upstream's (tests/parity):

1. :func:`merge_for_sandhi` first regroups jieba's words so the rules see enough
   context: 不 and a lone 一 join the next word, V一V becomes one word (看一看),
   repeated words join (看看), two words that are all third tone join while the result
   has at most three characters, and so does a word ending in a third tone with the
   next word starting in one; a word-final 儿 joins the word before it.
2. :func:`apply_sandhi` then changes tones per word, in this order: 不 (bu2 before a
   4th tone, neutral in V不V), 一 (kept in numbers and ordinals, neutral in V一V, yi2
   before a 4th tone, yi4 before other tones), the neutral tone (reduplicated nouns,
   verbs and adjectives, sentence particles, 的地得, aspect 了着过, suffixes 们子,
   place words 上下里, directional 来去, the measure word 个, and a fixed word list
   ``data/zh_neutral_tone_words.txt`` minus ``data/zh_not_neutral_tone_words.txt``),
   and third-tone chains (3-3 → 2-3 inside two-, three- and four-character words,
   split the way jieba's search mode splits them).

Finals are pypinyin ``FINALS_TONE3`` strings with the neutral tone as 5 (``ao3``).
Where upstream's merge steps fail on a syllable pypinyin gives no final for, upstream
skips that step for the sentence; :func:`merge_for_sandhi` does the same.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

Word = tuple[str, str]  # (text, jieba part-of-speech flag)

_PARTICLES = "吧呢哈啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶"
_STRUCTURAL = "的地得"
_ASPECT = "了着过"
_ASPECT_POS = frozenset({"ul", "uz", "ug"})
_PLACE_SUFFIXES = "上下里"
_PLACE_POS = frozenset({"s", "l", "f"})
_DIRECTION_HEADS = "上下进出回过起开"
_COUNTED_BEFORE_GE = "几有两半多各整每做是"
_MARKS = "：，；。？！“”‘’':,;.?!"


@cache
def _word_list(name: str) -> frozenset[str]:
    text = resources.files("voicemill.text").joinpath(f"data/{name}").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def neutral_tone_words() -> frozenset[str]:
    return _word_list("zh_neutral_tone_words.txt")


def not_neutral_tone_words() -> frozenset[str]:
    return _word_list("zh_not_neutral_tone_words.txt")


def finals_of(word: str) -> list[str]:
    """pypinyin's strict ``FINALS_TONE3`` readings of ``word``, neutral tone as 5."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)


def _tone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _all_third(finals: list[str]) -> bool:
    # An empty final raises IndexError, as upstream's check does; see merge_for_sandhi.
    return all(final[-1] == "3" for final in finals)


# ----------------------------------------------------------------------------- merging


def merge_for_sandhi(words: list[Word]) -> list[Word]:
    """Regroup jieba's words for :func:`apply_sandhi` (see the module docstring)."""
    words = _merge_bu(words)
    words = _unless_unreadable(_merge_yi, words)
    words = _merge_repeats(words)
    words = _unless_unreadable(_merge_third_tone_words, words)
    words = _unless_unreadable(_merge_third_tone_boundary, words)
    return _merge_er(words)


def _unless_unreadable(step: Callable[[list[Word]], list[Word]], words: list[Word]) -> list[Word]:
    """Run a merge step; upstream skips it when a syllable has no final to check."""
    try:
        return step(words)
    except IndexError:
        return words


def _merge_bu(words: list[Word]) -> list[Word]:
    out: list[Word] = []
    previous = ""
    for text, pos in words:
        if previous == "不":
            text = "不" + text
        if text != "不":
            out.append((text, pos))
        previous = text
    if previous == "不":
        out.append(("不", "d"))
    return out


def _merge_yi(words: list[Word]) -> list[Word]:
    merged: list[Word] = []
    i = 0
    while i < len(words):
        text, pos = words[i]
        if 0 < i < len(words) - 1 and text == "一":
            left = merged[-1] if merged else words[i - 1]
            right = words[i + 1]
            if left[0] == right[0] and left[1] == "v" and right[1] == "v":
                merged[-1] = (left[0] + "一" + right[0], left[1])  # 看一看
                i += 2
                continue
        merged.append((text, pos))
        i += 1
    out: list[Word] = []
    for text, pos in merged:
        if out and out[-1][0] == "一":
            out[-1] = ("一" + text, out[-1][1])  # a lone 一 reads with what follows
        else:
            out.append((text, pos))
    return out


def _merge_repeats(words: list[Word]) -> list[Word]:
    out: list[Word] = []
    for text, pos in words:
        if out and text == out[-1][0]:
            out[-1] = (out[-1][0] + text, out[-1][1])
        else:
            out.append((text, pos))
    return out


def _is_reduplication(text: str) -> bool:
    return len(text) == 2 and text[0] == text[1]


def _merge_third_tone_words(words: list[Word]) -> list[Word]:
    """Join two all-third-tone words (e.g. 你 好 → 你好) into at most three characters."""
    return _merge_pairs(words, lambda before, after: _all_third(before) and _all_third(after))


def _merge_third_tone_boundary(words: list[Word]) -> list[Word]:
    """Join words that meet on two third tones (the last of one, the first of the next)."""
    return _merge_pairs(words, lambda before, after: before[-1][-1] == "3" and after[0][-1] == "3")


def _merge_pairs(words: list[Word], joins: Callable[[list[str], list[str]], bool]) -> list[Word]:
    finals = [finals_of(text) for text, _ in words]
    out: list[Word] = []
    joined_previous = False
    for i, (text, pos) in enumerate(words):
        # Same evaluation order as upstream, so an unreadable syllable fails the same way.
        if i > 0 and joins(finals[i - 1], finals[i]) and not joined_previous:
            previous = words[i - 1][0]
            # A reduplication keeps its own word: it still needs its neutral tone.
            if not _is_reduplication(previous) and len(previous) + len(text) <= 3:
                out[-1] = (out[-1][0] + text, out[-1][1])
                joined_previous = True
                continue
        out.append((text, pos))
        joined_previous = False
    return out


def _merge_er(words: list[Word]) -> list[Word]:
    out: list[Word] = []
    for i, (text, pos) in enumerate(words):
        if i > 0 and text == "儿" and words[i - 1][0] != "#":
            out[-1] = (out[-1][0] + text, out[-1][1])
        else:
            out.append((text, pos))
    return out


# ----------------------------------------------------------------------------- sandhi


def apply_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    """Tones of one merged word after 不, 一, neutral-tone and third-tone sandhi."""
    finals = list(finals)
    _bu(word, finals)
    _yi(word, finals)
    finals = _neutral(word, pos, finals)
    return _third_tone(word, finals)


def _bu(word: str, finals: list[str]) -> None:
    if len(word) == 3 and word[1] == "不":
        finals[1] = _tone(finals[1], "5")  # 看不懂
        return
    for i, char in enumerate(word):
        if char == "不" and i + 1 < len(word) and finals[i + 1][-1] == "4":
            finals[i] = _tone(finals[i], "2")  # 不怕


def _yi(word: str, finals: list[str]) -> None:
    if "一" in word and all(char.isnumeric() for char in word if char != "一"):
        return  # a digit string: 一零一
    if len(word) == 3 and word[1] == "一" and word[0] == word[2]:
        finals[1] = _tone(finals[1], "5")  # 看一看
    elif word.startswith("第一"):
        finals[1] = _tone(finals[1], "1")
    else:
        for i, char in enumerate(word):
            if char != "一" or i + 1 >= len(word):
                continue
            if finals[i + 1][-1] == "4":
                finals[i] = _tone(finals[i], "2")  # 一段
            elif word[i + 1] not in _MARKS:
                finals[i] = _tone(finals[i], "4")  # 一天


def _neutral(word: str, pos: str, finals: list[str]) -> list[str]:
    neutral = neutral_tone_words()
    exempt = not_neutral_tone_words()
    for j in range(1, len(word)):
        if word[j] == word[j - 1] and pos[0] in "nva" and word not in exempt:
            finals[j] = _tone(finals[j], "5")  # 奶奶, 试试
    ge = word.find("个")
    last = word[-1] if word else ""
    if last and last in _PARTICLES + _STRUCTURAL:  # 吧, 呢 ...; 的, 地, 得
        finals[-1] = _tone(finals[-1], "5")
    elif len(word) == 1 and word in _ASPECT and pos in _ASPECT_POS:
        finals[-1] = _tone(finals[-1], "5")  # 走了, 看着, 去过
    elif len(word) > 1 and last in "们子" and pos in {"r", "n"} and word not in exempt:
        finals[-1] = _tone(finals[-1], "5")
    elif len(word) > 1 and last in _PLACE_SUFFIXES and pos in _PLACE_POS:
        finals[-1] = _tone(finals[-1], "5")  # 桌上, 家里
    elif len(word) > 1 and last in "来去" and word[-2] in _DIRECTION_HEADS:
        finals[-1] = _tone(finals[-1], "5")  # 上来, 下去
    elif (ge >= 1 and (word[ge - 1].isnumeric() or word[ge - 1] in _COUNTED_BEFORE_GE)) or (
        word == "个"
    ):
        finals[ge] = _tone(finals[ge], "5")  # 个 as a measure word
    elif word in neutral or word[-2:] in neutral:
        finals[-1] = _tone(finals[-1], "5")
    head, tail = split_word(word)
    parts = [finals[: len(head)], finals[len(head) :]]
    for part_word, part in zip((head, tail), parts, strict=True):
        if part_word in neutral or part_word[-2:] in neutral:
            part[-1] = _tone(part[-1], "5")
    return parts[0] + parts[1]


def split_word(word: str) -> tuple[str, str]:
    """Two parts of ``word``: its shortest jieba search-mode piece and the rest.

    The piece is taken from the front when the word starts with it, else from the end
    (e.g. 蒙古包 → 蒙古 + 包 when 包 is the shortest piece at the end).
    """
    import jieba

    pieces = sorted(jieba.cut_for_search(word), key=len)
    first = pieces[0]
    if word.find(first) == 0:
        return first, word[len(first) :]
    return word[: -len(first)], first


def _third_tone(word: str, finals: list[str]) -> list[str]:
    if len(word) == 2 and _all_third(finals):
        finals[0] = _tone(finals[0], "2")
    elif len(word) == 3:
        head, _ = split_word(word)
        if _all_third(finals):
            if len(head) == 2:  # 蒙古/包
                finals[0] = _tone(finals[0], "2")
                finals[1] = _tone(finals[1], "2")
            elif len(head) == 1:  # 纸/老虎
                finals[1] = _tone(finals[1], "2")
        else:
            parts = [finals[: len(head)], finals[len(head) :]]
            for i, part in enumerate(parts):
                if _all_third(part) and len(part) == 2:
                    part[0] = _tone(part[0], "2")  # 所有/人
                elif (
                    i == 1
                    and not _all_third(part)
                    and part[0][-1] == "3"
                    and parts[0][-1][-1] == "3"
                ):
                    parts[0][-1] = _tone(parts[0][-1], "2")  # 好/喜欢
            finals = parts[0] + parts[1]
    elif len(word) == 4:  # an idiom: two two-character halves
        halves = [finals[:2], finals[2:]]
        for half in halves:
            if _all_third(half):
                half[0] = _tone(half[0], "2")
        finals = halves[0] + halves[1]
    return finals
