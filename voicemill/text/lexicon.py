"""Custom pronunciation lexicon: domain terms pronounced exactly as specified.

Users fix G2P mistakes (brand names, rare words, polyphones) without code changes, the
way upstream's ``engdict-hot.rep`` and Japanese ``userdict.csv`` do, but for every
language and validated up front so a typo fails loudly at load time instead of
producing a wrong voice later.

Format (YAML)::

    version: 1
    en:                       # one word -> ARPAbet with stress digits
      VoiceMill: "V OY1 S M IH2 L"
    zh:                       # hanzi word -> one TONE3 pinyin syllable per character,
      行长: "hang2 zhang3"     # or two v2 symbols per character ("h ang2 zh ang3")
    ja:                       # kanji/kana word -> its reading in kana
      音声合成: "オンセイゴーセイ"
    entries:                  # optional flat form; keys with kana are ja, other
      GPT: "JH IY1 P IY1 T IY1"  # hanzi keys zh, the rest en

English keys match case-insensitively unless an exact-case entry exists. A Japanese
entry gives a reading, not phones: OpenJTalk reads the kana in place of the word, so
the word still gets its pitch-accent marks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from voicemill.text.normalize import TextError
from voicemill.text.symbols import is_symbol

LEXICON_VERSION = 1
_HANZI_WORD_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ENGLISH_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_KANA = "\u3005\u3006\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\uff66-\uff9f"
_KANA_RE = re.compile(f"[{_KANA}]")
_JAPANESE_WORD_RE = re.compile(f"[{_KANA}\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_READING_RE = re.compile("[\u3041-\u3096\u30a1-\u30fa\u30fc]+")
_TOP_LEVEL_KEYS = frozenset({"version", "en", "zh", "ja", "entries"})


class LexiconError(TextError):
    """A lexicon file that cannot be used; ``detail`` names the file and entry."""


@dataclass(frozen=True)
class Lexicon:
    """Validated entries: English and Mandarin words mapped to v2 symbols, Japanese
    words to kana readings."""

    english_entries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    chinese: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    japanese: Mapping[str, str] = field(default_factory=dict)
    _english_folded: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        folded = {word.lower(): phones for word, phones in self.english_entries.items()}
        object.__setattr__(self, "_english_folded", folded)

    def english(self, word: str) -> tuple[str, ...] | None:
        """Phones of an English word: the exact-case entry, else a case-insensitive one."""
        return self.english_entries.get(word) or self._english_folded.get(word.lower())


def load_lexicon(path: str | Path) -> Lexicon:
    """Read and validate a lexicon YAML file (see the module docstring for the format)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LexiconError("invalid_lexicon", f"{path}: cannot read: {exc}") from exc
    return lexicon_from_mapping(data, source=str(path))


def lexicon_from_mapping(data: object, source: str = "<lexicon>") -> Lexicon:
    """Validate an already-parsed lexicon; raises :class:`LexiconError` on any problem."""
    if not isinstance(data, dict):
        raise LexiconError("invalid_lexicon", f"{source}: top level must be a mapping")
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise LexiconError("invalid_lexicon", f"{source}: unknown keys {sorted(unknown)}")
    if data.get("version") != LEXICON_VERSION:
        raise LexiconError(
            "invalid_lexicon",
            f"{source}: version must be {LEXICON_VERSION}, got {data.get('version')!r}",
        )
    english: dict[str, tuple[str, ...]] = {}
    chinese: dict[str, tuple[str, ...]] = {}
    japanese: dict[str, str] = {}
    for section in ("entries", "en", "zh", "ja"):
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            raise LexiconError("invalid_lexicon", f"{source}: {section!r} must be a mapping")
        for word, pronunciation in entries.items():
            word = str(word).strip()
            where = f"{source}: {section}[{word!r}]"
            if not isinstance(pronunciation, str) or not pronunciation.split():
                raise LexiconError("invalid_lexicon", f"{where}: pronunciation must be a string")
            is_ja = section == "ja" or (section == "entries" and _KANA_RE.search(word))
            is_zh = section == "zh" or (section == "entries" and _HANZI_WORD_RE.search(word))
            if is_ja:
                key, reading = _japanese_reading(word, pronunciation, where)
                japanese[key] = reading
            elif is_zh:
                chinese[word] = _chinese_phones(word, pronunciation.split(), where)
            else:
                english[word] = _english_phones(word, pronunciation.split(), where)
    return Lexicon(english_entries=english, chinese=chinese, japanese=japanese)


def _english_phones(word: str, phones: list[str], where: str) -> tuple[str, ...]:
    if not _ENGLISH_WORD_RE.fullmatch(word):
        raise LexiconError("invalid_lexicon", f"{where}: English keys must be one word")
    unknown = [phone for phone in phones if not is_symbol(phone)]
    if unknown:
        raise LexiconError(
            "invalid_lexicon",
            f"{where}: phones {unknown} are not v2 symbols (ARPAbet needs stress digits, "
            "e.g. AH0 not AH)",
        )
    return tuple(phones)


def _chinese_phones(word: str, tokens: list[str], where: str) -> tuple[str, ...]:
    from voicemill.text.g2p_zh import syllable_phones

    if not _HANZI_WORD_RE.fullmatch(word):
        raise LexiconError("invalid_lexicon", f"{where}: Mandarin keys must be hanzi only")
    if len(tokens) == 2 * len(word):
        unknown = [token for token in tokens if not is_symbol(token)]
        if unknown:
            raise LexiconError("invalid_lexicon", f"{where}: {unknown} are not v2 symbols")
        return tuple(tokens)
    if len(tokens) != len(word):
        raise LexiconError(
            "invalid_lexicon",
            f"{where}: give one pinyin syllable (hang2) or two v2 symbols (h ang2) per "
            f"character; {len(word)} characters but {len(tokens)} tokens",
        )
    phones: list[str] = []
    for token in tokens:
        try:
            phones.extend(syllable_phones(token))
        except ValueError as exc:
            raise LexiconError("invalid_lexicon", f"{where}: {exc}") from exc
    return tuple(phones)


def _japanese_reading(word: str, reading: str, where: str) -> tuple[str, str]:
    """NFKC-normalized (word, reading): the frontend matches NFKC text (ｶﾅ → カナ)."""
    word = unicodedata.normalize("NFKC", word)
    reading = unicodedata.normalize("NFKC", reading).strip()
    if not _JAPANESE_WORD_RE.fullmatch(word):
        raise LexiconError("invalid_lexicon", f"{where}: Japanese keys must be kanji/kana only")
    if not _READING_RE.fullmatch(reading):
        raise LexiconError(
            "invalid_lexicon", f"{where}: give the reading in hiragana or katakana, e.g. オンセイ"
        )
    return word, reading
