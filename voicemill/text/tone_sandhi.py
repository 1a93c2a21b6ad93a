"""Mandarin tone sandhi on pinyin syllables (``TONE3`` style, neutral tone = 5).

pypinyin gives dictionary tones; spoken Mandarin changes some of them by context.
Rules here (the common ones, applied per jieba word in this order):

* neutral tone: a short list of common words (朋友; 东西 always read as "thing"),
  sentence particles, structural 的/地/得, aspect 了/着/过, the suffixes 们/子/头
  (outside a short exception list) and reduplicated kinship/verb forms;
* 不: bu2 before a 4th tone, bu5 between a reduplicated verb (去不去);
* 一: yi1 in digit strings, after a numeral and in ordinals, yi5 in reduplication
  (看一看), yi2 before a 4th tone, yi4 before other tones;
* 3-3: a 3rd tone before another 3rd tone becomes 2nd (你好 → ni2 hao3), within a word and
  from a one-syllable word into the next word.
"""

from __future__ import annotations

import itertools

_PARTICLES = frozenset("吗吧呢啊呐噻嘛吖嗨哦哒滴哩哟喽啰耶喔诶")
_STRUCTURAL = frozenset("的地得")
_ASPECT = frozenset("了着过")
_ASPECT_POS = frozenset({"ul", "uz", "ug"})
_SUFFIXES = frozenset("们子头")
_SUFFIX_EXCEPTIONS = frozenset(
    {"男子", "女子", "分子", "原子", "量子", "莲子", "石子", "瓜子", "电子", "孔子", "老子",
     "君子", "王子", "太子", "公子", "弟子", "赤子", "才子", "孙子兵法", "骨头", "码头"}
)  # fmt: skip
_DIGITS = frozenset("零一二三四五六七八九两")
# Common words whose second syllable is neutral in standard speech but not in pypinyin.
_NEUTRAL_SECOND = frozenset(
    {"朋友", "东西", "衣服", "时候", "事情", "知道", "明白", "认识", "喜欢", "先生", "意思",
     "地方", "漂亮", "告诉", "丈夫", "豆腐", "消息", "窗户", "舒服", "休息", "月亮", "眼睛",
     "耳朵", "脑袋", "关系", "打扮", "清楚", "便宜", "麻烦", "客气", "热闹", "暖和", "聪明",
     "商量", "收拾", "头发", "名字", "早上", "晚上", "部分", "玻璃", "姑娘", "学问", "生意"}
)  # fmt: skip
_NUMERALS = _DIGITS | frozenset("十百千万亿")


def tone(syllable: str) -> str:
    return syllable[-1]


def with_tone(syllable: str, new_tone: str) -> str:
    return syllable[:-1] + new_tone


def apply_word_sandhi(word: str, pos: str, syllables: list[str]) -> list[str]:
    """Sandhi inside one word; ``syllables`` has one TONE3 syllable per character."""
    if len(syllables) != len(word):
        return syllables  # unexpected (e.g. a lexicon multi-syllable entry); leave as is
    out = list(syllables)
    _neutral(word, pos, out)
    _bu(word, out)
    _yi(word, out)
    _three_three(out)
    return out


def apply_cross_word_three_tone(words: list[list[str]]) -> None:
    """3-3 sandhi across a boundary after a one-syllable word (很 好 → hen2 hao3), in place."""
    for left, right in itertools.pairwise(words):
        if len(left) == 1 and right and tone(left[0]) == "3" and tone(right[0]) == "3":
            left[0] = with_tone(left[0], "2")


def _neutral(word: str, pos: str, out: list[str]) -> None:
    if _neutral_last(word, pos):
        out[-1] = with_tone(out[-1], "5")
    for i in range(1, len(word)):
        if word[i - 1 : i + 1] in _NEUTRAL_SECOND:
            out[i] = with_tone(out[i], "5")  # 朋友们 → peng2 you5 men5
    # Reduplicated nouns/verbs (奶奶, 看看): the second syllable is neutral.
    if len(word) == 2 and word[0] == word[1] and pos[:1] in {"n", "v"} and word[0] not in "一不":
        out[1] = with_tone(out[1], "5")


def _neutral_last(word: str, pos: str) -> bool:
    """Whether the word's last syllable is read in the neutral tone."""
    last = word[-1]
    if last in _PARTICLES:
        return len(word) == 1 or pos in {"y", "e"}
    if last in _STRUCTURAL:
        return len(word) == 1 or pos.startswith("u")
    if last in _ASPECT:
        return pos in _ASPECT_POS
    if last in _SUFFIXES and len(word) > 1:
        return word not in _SUFFIX_EXCEPTIONS and pos.startswith(("n", "r"))
    return False


def _bu(word: str, out: list[str]) -> None:
    for i, ch in enumerate(word):
        if ch != "不":
            continue
        if 0 < i < len(word) - 1 and word[i - 1] == word[i + 1]:
            out[i] = with_tone(out[i], "5")  # 去不去
        elif i + 1 < len(word) and tone(out[i + 1]) == "4":
            out[i] = with_tone(out[i], "2")
        else:
            out[i] = with_tone(out[i], "4")


def _yi(word: str, out: list[str]) -> None:
    for i, ch in enumerate(word):
        if ch != "一":
            continue
        before = word[i - 1] if i > 0 else ""
        after = word[i + 1] if i + 1 < len(word) else ""
        if before == "第" or before in _NUMERALS or after in _DIGITS or not after:
            out[i] = with_tone(out[i], "1")  # 第一, 十一, 一零一, a final 一
        elif before and before == after:
            out[i] = with_tone(out[i], "5")  # 看一看
        else:
            out[i] = with_tone(out[i], "2" if tone(out[i + 1]) in {"4", "5"} else "4")


def _three_three(out: list[str]) -> None:
    original = [tone(s) for s in out]
    for i in range(len(out) - 1):
        if original[i] == "3" and original[i + 1] == "3":
            out[i] = with_tone(out[i], "2")
