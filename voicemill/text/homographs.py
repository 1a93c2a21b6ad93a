"""English homographs: words read two ways ("to record" / "a record") and the tags
that choose between them.

Upstream GPT-SoVITS takes the table from the ``g2p_en`` package (``homographs.en``:
word, first pronunciation, second pronunciation, tag) with two of its own overrides,
and reads the first pronunciation when NLTK's part-of-speech tag for the word starts
with the table's tag (``V`` for most entries, so any verb tag), else the second. NLTK's
tagger needs data that cannot be installed offline, so this module tags homographs with
a small rule set that looks at the neighbouring words. It only has to get one
distinction right per word, verb or not (noun for ``content``/``closer``, adjective for
``complex``, present vs past for ``read``, participle vs past for ``used``), and its
tags are the Penn tags NLTK would give in the common constructions below.

Rules, first match wins (``prev`` is the word before, skipping adverbs such as "not",
"also", "very"; a comma starts a clause; "and"/"or"/"but"/"then" count as a clause
start too):

1. A hyphen right before ("well-read") makes a compound adjective: JJ.
2. ``to`` before: the base form is a verb (VB); "-s" forms are plural nouns.
3. A modal, a form of "do", "please" or "let's" before: VB.
4. A form of "have" before: a participle for "-ed" forms and "read" (VBN), otherwise
   the object noun ("have records").
5. A form of "be" before: a participle for "-ed" forms and "read", VBG for "-ing",
   otherwise a predicate adjective ("is perfect", "am content", "is complex").
6. A subject pronoun before: a finite verb (VBP/VBZ; VBD for "-ed" forms).
7. A determiner, possessive, preposition, number or adjective before: a noun (or the
   adjective reading of ``complex``/``closer`` when a noun follows).
8. Otherwise the next word decides: an object (determiner, possessive, pronoun,
   number, adjective) after makes a verb (imperative at a clause start: "Record the
   song"; finite after a noun: "The team records every game"); else a noun, or for
   an "-ed" form a past tense (VBN at a clause start or before "by").

"crooked", "jagged", "ragged", "crabbed" and "unused" are adjectives (JJ) except
after "have".

``read`` (table tag VBP: present "reed" for VB/VBP, "red" otherwise) adds: past-time
words in the sentence (yesterday, ago, last, earlier) make it VBD, as does a singular
subject (he/she/it, a name); a clause start is an imperative (VB). ``used`` (VBN:
"yoozd" for the participle, "yoost" otherwise) is VBN after be/have/get, before "by"
and as a modifier ("a used car"), else VBD ("I used to", "we used the tool").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from voicemill.text.en_neural_g2p import g2p_en_data_dir

Pronunciation = tuple[str, ...]

# Upstream's own corrections to the g2p_en table.
_OVERRIDES: dict[str, tuple[Pronunciation, Pronunciation, str]] = {
    "read": (("R", "IY1", "D"), ("R", "EH1", "D"), "VBP"),
    "complex": (
        ("K", "AH0", "M", "P", "L", "EH1", "K", "S"),
        ("K", "AA1", "M", "P", "L", "EH0", "K", "S"),
        "JJ",
    ),
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SENTENCE_END = frozenset(".!?")
_TO = frozenset({"to"})
_MODALS = _words(
    "can could will would shall should may might must cannot can't won't wouldn't "
    "shouldn't couldn't mustn't i'll you'll we'll they'll he'll she'll it'll i'd you'd "
    "we'd they'd he'd she'd"
)
_DO = _words("do does did don't doesn't didn't")
_IMPERATIVE_MARKERS = frozenset({"please", "let's", "lets"})
_HAVE = _words("have has had having i've you've we've they've haven't hasn't hadn't")
_BE = _words(
    "be been being is are was were am isn't aren't wasn't weren't i'm you're we're "
    "they're he's she's it's that's there's"
)
_GET = _words("get gets got gotten getting become becomes became")
_SUBJECTS_PLURAL = frozenset({"i", "you", "we", "they", "who"})
_SUBJECTS_SINGULAR = frozenset({"he", "she", "it"})
_DETERMINERS = _words(
    "a an the this that these those each every some any no another such what which "
    "whose all both either neither much many few several other"
)
_POSSESSIVES = _words("my your his her its our their")
_OBJECT_PRONOUNS = _words(
    "me him them us it you her myself yourself himself herself itself ourselves themselves"
)
_PREPOSITIONS = _words(
    "of in on at for with from by about into onto over under without between against "
    "through during after before per via like near across among within upon toward "
    "towards than as"
)
_NUMBERS = _words(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion first second third last next"
)
_ADJECTIVES = _words(
    "new old good great big small large long short high low best better worst bad final "
    "whole real own main major minor little free full open public private recent annual "
    "local global total huge simple special important early late young strong weak "
    "hard easy clear same different entire current future past true false"
)
_ADJECTIVE_ENDINGS = ("ful", "ous", "ive", "able", "ible", "ical", "less", "ish")
_CONJUNCTIONS = frozenset({"and", "or", "but", "then", "so", "yet"})
# Adverbs between a homograph and the word that decides it ("will not record").
_TRANSPARENT = _words(
    "not never also always just often really still already even only rarely usually "
    "sometimes soon very quite too more most less least ever finally actually"
)
_PAST_TIME = frozenset({"yesterday", "ago", "last", "earlier", "previously"})
_ALWAYS_ADJECTIVES = frozenset({"crooked", "jagged", "ragged", "crabbed", "unused"})
# Words that start an object after a verb ("record the song"); not "that", which
# more often starts a clause ("they project that sales will grow"), nor last/next.
_OBJECT_STARTERS = (
    _DETERMINERS | _POSSESSIVES | _OBJECT_PRONOUNS | _NUMBERS | _ADJECTIVES
) - frozenset({"last", "next", "that"})
_FUNCTION_WORDS = (
    _TO | _MODALS | _DO | _HAVE | _BE | _SUBJECTS_PLURAL | _SUBJECTS_SINGULAR | _DETERMINERS
    | _POSSESSIVES | _OBJECT_PRONOUNS | _PREPOSITIONS | _CONJUNCTIONS | _TRANSPARENT
)  # fmt: skip
_BASE_FORM_CONTEXT = _TO | _MODALS | _DO | _IMPERATIVE_MARKERS
_WORD_RE = re.compile(r"[A-Za-z]")


@cache
def homograph_table() -> dict[str, tuple[Pronunciation, Pronunciation, str]]:
    """word -> (first pronunciation, second pronunciation, tag taking the first)."""
    table: dict[str, tuple[Pronunciation, Pronunciation, str]] = {}
    path = g2p_en_data_dir() / "homographs.en"
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, first, second, tag = line.split("|")
        table[word.lower()] = (tuple(first.split()), tuple(second.split()), tag)
    table.update(_OVERRIDES)
    return table


def is_homograph(word: str) -> bool:
    return word.lower() in homograph_table()


def homograph_phones(word: str, tag: str) -> Pronunciation:
    """The pronunciation upstream picks for ``word`` tagged ``tag``.

    The first one when the tag starts with the table's tag, or is a shorter prefix of
    it (so VB selects read's VBP reading), the second otherwise.
    """
    first, second, table_tag = homograph_table()[word.lower()]
    if tag.startswith(table_tag) or (len(tag) < len(table_tag) and table_tag.startswith(tag)):
        return first
    return second


def tag_homographs(tokens: Sequence[str]) -> list[str | None]:
    """A Penn tag for each homograph token (None for every other token)."""
    table = homograph_table()
    return [_tag(tokens, i) if token.lower() in table else None for i, token in enumerate(tokens)]


def _is_word(token: str) -> bool:
    return bool(_WORD_RE.search(token))


def _form(word: str) -> str:
    if word.endswith("ing"):
        return "ing"
    if word.endswith("ed"):
        return "ed"
    if word.endswith("s") and not word.endswith("ss"):
        return "s"
    return "base"


def _previous(tokens: Sequence[str], i: int) -> str | None:
    """The deciding word before ``tokens[i]``; None at a sentence or clause start."""
    j = i - 1
    while j >= 0 and _is_word(tokens[j]) and tokens[j].lower() in _TRANSPARENT:
        j -= 1
    if j < 0 or not _is_word(tokens[j]):
        return None
    word = tokens[j].lower()
    return None if word in _CONJUNCTIONS else word


def _next(tokens: Sequence[str], i: int) -> str | None:
    if i + 1 < len(tokens) and _is_word(tokens[i + 1]):
        return tokens[i + 1].lower()
    return None


def _sentence(tokens: Sequence[str], i: int) -> list[str]:
    start = i
    while start > 0 and tokens[start - 1] not in _SENTENCE_END:
        start -= 1
    end = i
    while end < len(tokens) and tokens[end] not in _SENTENCE_END:
        end += 1
    return [token.lower() for token in tokens[start:end]]


def _is_adjective(word: str) -> bool:
    return word in _ADJECTIVES or (len(word) >= 6 and word.endswith(_ADJECTIVE_ENDINGS))


def _is_nominal_context(word: str) -> bool:
    """A word after which the next one is a noun (or a noun's modifier)."""
    return (
        word in _DETERMINERS
        or word in _POSSESSIVES
        or word.endswith("'s")
        or word in _PREPOSITIONS
        or word in _NUMBERS
        or _is_adjective(word)
    )


def _is_noun_like(word: str | None) -> bool:
    """A content word that can follow an adjective: the noun of "complex system"
    (not a function word, nor a past tense as in "the closer saved the game")."""
    return word is not None and word not in _FUNCTION_WORDS and not word.endswith("ed")


def _tag(tokens: Sequence[str], i: int) -> str:
    word = tokens[i].lower()
    if i >= 2 and tokens[i - 1] == "-" and _is_word(tokens[i - 2]):
        return "JJ"  # rule 1: well-read, so-called
    prev, nxt = _previous(tokens, i), _next(tokens, i)
    if word == "read":
        return _tag_read(prev, nxt, _sentence(tokens, i))
    if word == "used":
        return _tag_used(prev, nxt)
    if word in _ALWAYS_ADJECTIVES and prev not in _HAVE:
        return "JJ"
    form = _form(word)
    if prev in _TO:
        return {"base": "VB", "s": "NNS", "ed": "VBN", "ing": "VBG"}[form]
    if prev in _MODALS or prev in _DO or prev in _IMPERATIVE_MARKERS:
        return "VB"
    if prev in _HAVE:
        return {"base": "NN", "s": "NNS", "ed": "VBN", "ing": "NN"}[form]
    if prev in _BE:
        return {"base": "JJ", "s": "NNS", "ed": "VBN", "ing": "VBG"}[form]
    if prev in _SUBJECTS_PLURAL or prev in _SUBJECTS_SINGULAR:
        return {"base": "VBP", "s": "VBZ", "ed": "VBD", "ing": "VBG"}[form]
    if prev is not None and _is_nominal_context(prev):
        return _nominal(word, form, nxt, after_determiner=prev in _DETERMINERS | _POSSESSIVES)
    if nxt in _OBJECT_STARTERS:
        if prev is None:
            return {"base": "VB", "s": "VBZ", "ed": "VBD", "ing": "VBG"}[form]
        return {"base": "VBP", "s": "VBZ", "ed": "VBD", "ing": "VBG"}[form]
    if form == "ed":
        return "VBN" if prev is None or nxt == "by" else "VBD"
    return _nominal(word, form, nxt, after_determiner=False)


def _nominal(word: str, form: str, nxt: str | None, after_determiner: bool) -> str:
    """Noun-phrase readings: nouns, and the adjective readings before a noun."""
    if word == "complex":
        return "JJ" if _is_noun_like(nxt) else "NN"
    if word == "closer":
        return "NN" if after_determiner and not _is_noun_like(nxt) else "JJR"
    return {"base": "NN", "s": "NNS", "ed": "JJ", "ing": "NN"}[form]


def _tag_read(prev: str | None, nxt: str | None, sentence: list[str]) -> str:
    if prev is None or prev in _BASE_FORM_CONTEXT:
        return "VB"
    if prev in _HAVE or prev in _BE or prev in _GET:
        return "VBN"
    if _is_nominal_context(prev):
        return "NN"  # a good read
    if _PAST_TIME.intersection(sentence):
        return "VBD"
    if prev in _SUBJECTS_PLURAL:
        return "VBP"
    if prev in _SUBJECTS_SINGULAR:
        return "VBD"  # present would be "reads"
    # A noun subject: plural ones take the present, singular ones ("John") the past.
    return "VBP" if prev.endswith("s") and not prev.endswith("ss") else "VBD"


def _tag_used(prev: str | None, nxt: str | None) -> str:
    if prev in _HAVE or prev in _BE or prev in _GET or nxt == "by":
        return "VBN"
    if prev is None or _is_nominal_context(prev):
        return "VBN"  # a used car; Used cars are cheap
    return "VBD"  # I used to, we used the tool
