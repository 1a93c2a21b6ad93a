"""Mandarin G2P against upstream's: the pinyin table, and phones on generated text.

Both sides read the same normalized text (upstream's), so this isolates segmentation,
pypinyin readings, tone sandhi, erhua and the symbol mapping from normalization, which
test_parity_normalize_zh.py covers.
"""

from __future__ import annotations

import os
import random

import jieba
import pytest

from voicemill.text.g2p_zh import chinese_g2p, syllable_phones

# Words and marks that exercise every sandhi and erhua rule when mixed into text.
_SANDHI_TEXT = (
    "一 不 儿 个 一个 了 着 过 的 地 得 们 子 上 下 里 来 去 吧 呢 啊 三 五 两 第一 一一 看看 "
    "好好 嗯 呣 哈哈 人人 想想 起来 出去 点儿 花儿 女儿 这儿 那儿 一点儿 不不 一下 一会儿 东西 "
    "先生 老虎 展览馆 蒙古包 纸老虎 所有人 好喜欢 你好 我很好 买了 很多 一样 不是 不对 小姐 打扫 "
    "洗澡 小院儿 媳妇儿 奶奶 试试 桌上 家里 上来 下去 几个 两个 看一看 听一听 去不去"
)
_SANDHI_WORDS = tuple(_SANDHI_TEXT.split(" "))
_MARKS = ("，", "。", "！", "？", "、", "……", "：", "；")


def _generated_sentences(count: int, seed: int) -> list[str]:
    """Random but reproducible text: frequent jieba words with sandhi words and marks."""
    words, weights = [], []
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for line in f:
            word, freq, _ = line.split()
            if int(freq) > 100 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
                words.append(word)
                weights.append(int(freq) ** 0.4)
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        text = ""
        for _ in range(rng.randint(2, 8)):
            special = rng.random() < 0.4
            text += rng.choice(_SANDHI_WORDS) if special else rng.choices(words, weights)[0]
            if rng.random() < 0.15:
                text += rng.choice(_MARKS)
        sentences.append(text + rng.choice(_MARKS))
    return sentences


def test_pinyin_symbols_equal_upstreams_table(peer) -> None:
    table = peer.call("text.pinyin_table")
    assert len(table) > 400
    ours = {syllable: list(syllable_phones(syllable + "1")) for syllable in table}
    expected = {syllable: [initial, final + "1"] for syllable, (initial, final) in table.items()}
    assert ours == expected


@pytest.mark.parametrize("seed", [1, 2])
def test_phones_equal_upstream_on_generated_text(peer, seed: int) -> None:
    mismatches = []
    for sentence in _generated_sentences(250, seed):
        upstream = peer.call("text.clean_text", text=sentence, language="zh")
        phones, word2ph = chinese_g2p(upstream["norm_text"])
        if (phones, word2ph) != (upstream["phones"], upstream["word2ph"]):
            mismatches.append((sentence, " ".join(upstream["phones"]), " ".join(phones)))
    assert not mismatches, "\n".join(f"{s}\n  up:   {u}\n  ours: {o}" for s, u, o in mismatches)
