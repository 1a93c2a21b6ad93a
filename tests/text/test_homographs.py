"""Homograph tagging: the rule-based tags pick the reading NLTK's tags pick upstream.

Each case is a normalized sentence and the Penn tag NLTK's tagger gives each
homograph in it, in order (hand-checked). A rule may answer with a sibling tag (RB
for RBR), so the test compares the pronunciation the two tags select, and the tags
where the choice hangs on them.
"""

from __future__ import annotations

import re

import pytest

from voicemill.text.g2p_en import english_g2p
from voicemill.text.homographs import (
    homograph_phones,
    homograph_table,
    is_homograph,
    tag_homographs,
)

TOKEN_SPLIT = "[A-Za-z]+(?:'[A-Za-z]+)?|[.,?!\\-]"

SENTENCES: list[tuple[str, list[str]]] = [
    # record: verb (R IH0 K AO1 R D) vs noun (R EH1 K ER0 D)
    ("I will record the song.", ["VB"]),
    ("She bought a record yesterday.", ["NN"]),
    ("Please record the meeting.", ["VB"]),
    ("Record the song now.", ["VB"]),
    ("They record every game.", ["VBP"]),
    ("The team records every game.", ["VBZ"]),
    ("Her records are famous.", ["NNS"]),
    # read: VB/VBP "reed", everything else "red"
    ("He read the book yesterday.", ["VBD"]),
    ("I read books every day.", ["VBP"]),
    ("I read the letter last night.", ["VBD"]),
    ("I have read that book.", ["VBN"]),
    ("The book was read aloud.", ["VBN"]),
    ("Read the instructions first.", ["VB"]),
    ("You should read it.", ["VB"]),
    ("She is well-read.", ["JJ"]),
    ("It was a good read.", ["NN"]),
    ("Students read the book.", ["VBP"]),
    ("John read the letter.", ["VBD"]),
    ("I have never read it.", ["VBN"]),
    ("Please read and sign.", ["VB"]),
    # used: VBN "yoozd", otherwise "yoost"
    ("We used to live there.", ["VBD"]),
    ("The tool was used by many.", ["VBN"]),
    ("He bought a used car.", ["VBN"]),
    ("They used the old method.", ["VBD"]),
    # content (noun tag N), complex (JJ), closer (N)
    ("I am content with this.", ["JJ"]),
    ("The content is great.", ["NN"]),
    ("This is a complex problem.", ["JJ"]),
    ("They built a housing complex.", ["NN"]),
    ("The problem is complex.", ["JJ"]),
    ("The complex was built in nineteen ninety.", ["NN"]),
    ("Come closer to me.", ["RBR"]),
    ("The closer saved the game.", ["NN"]),
    ("Take a closer look.", ["JJR"]),
    # verb vs noun/adjective for the V-tagged rest
    ("They present the award.", ["VBP"]),
    ("The present was lovely.", ["NN"]),
    ("Everyone was present.", ["JJ"]),
    ("We need to present our findings.", ["VB"]),
    ("I object to that.", ["VBP"]),
    ("The object fell.", ["NN"]),
    ("Don't desert me.", ["VB"]),
    ("The Sahara desert is hot.", ["NN"]),
    ("They refuse to go.", ["VBP"]),
    ("Take out the refuse.", ["NN"]),
    ("We must increase sales.", ["VB"]),
    ("The increase was large.", ["NN"]),
    ("Prices increase every year.", ["VBP"]),
    ("I live in a big house.", ["NN"]),
    ("They house the refugees.", ["VBP"]),
    ("They project growth.", ["VBP"]),
    ("Use the force.", ["VB"]),
    ("The use of force.", ["NN"]),
    ("He uses a pen.", ["VBZ"]),
    ("It's perfect.", ["JJ"]),
    ("We perfect the process.", ["VBP", "NN"]),
    ("They process data daily.", ["VBP"]),
    ("He learned a lot.", ["VBD"]),
    ("A learned scholar.", ["JJ"]),
    ("The data processing is slow.", ["NN"]),
    ("We are processing the data.", ["VBG"]),
    ("Close the door.", ["VB"]),
    ("We live close to the station.", ["RB"]),
    ("The store will close soon.", ["VB"]),
    ("Estimate the cost.", ["VB"]),
    ("The estimate was wrong.", ["NN"]),
    ("They live in separate rooms.", ["JJ"]),
    ("Invite your friends.", ["VB"]),
    ("I sent an invite.", ["NN"]),
    ("Please do not abuse the system, and report any abuse.", ["VB", "NN"]),
]


def _tokens(text: str) -> list[str]:
    return re.findall(TOKEN_SPLIT, text)


@pytest.mark.parametrize(("text", "expected"), SENTENCES)
def test_tags_choose_the_reading_nltk_tags_choose(text: str, expected: list[str]) -> None:
    tokens = _tokens(text)
    tagged = [(t, tag) for t, tag in zip(tokens, tag_homographs(tokens), strict=True) if tag]
    assert [word for word, _ in tagged] == [t for t in tokens if is_homograph(t)]
    assert len(tagged) == len(expected)
    for (word, tag), want in zip(tagged, expected, strict=True):
        assert homograph_phones(word, tag) == homograph_phones(word, want), (word, tag, want)


def test_upstream_overrides_for_read_and_complex() -> None:
    table = homograph_table()
    assert table["read"][2] == "VBP"  # g2p_en's table says VBD
    assert table["complex"] == (
        ("K", "AH0", "M", "P", "L", "EH1", "K", "S"),
        ("K", "AA1", "M", "P", "L", "EH0", "K", "S"),
        "JJ",
    )
    assert len(table) == 371  # g2p_en's entries, two of them overridden


def test_selection_rule_matches_tag_prefixes() -> None:
    assert homograph_phones("read", "VB") == ("R", "IY1", "D")  # shorter prefix of VBP
    assert homograph_phones("read", "VBP") == ("R", "IY1", "D")
    assert homograph_phones("read", "VBD") == ("R", "EH1", "D")
    assert homograph_phones("record", "VBZ") == ("R", "IH0", "K", "AO1", "R", "D")
    assert homograph_phones("record", "NN") == ("R", "EH1", "K", "ER0", "D")
    assert homograph_phones("content", "NNS") == ("K", "AA1", "N", "T", "EH0", "N", "T")


def test_only_homographs_get_tags() -> None:
    tokens = _tokens("The cat will record it, then read.")
    assert tag_homographs(tokens) == [None, None, None, "VB", None, None, None, "VB", None]


def test_g2p_reads_each_homograph_by_its_tag() -> None:
    verb = english_g2p("I will record it.")
    noun = english_g2p("It is a record.")
    assert verb[4:10] == ["R", "IH0", "K", "AO1", "R", "D"]
    assert noun[-6:] == ["R", "EH1", "K", "ER0", "D", "."]
