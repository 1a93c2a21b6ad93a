"""Our text frontend against upstream's on the committed sentence list.

Upstream's phone ids come from its own ``get_phones_and_bert`` running in the peer
(see peer_side/text.py for what stands in for its hub downloads). Every sentence must
give the same ids except the ones marked ``deliberate`` in frontend_sentences.yaml,
which must still differ (so the list of differences in the README stays true).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from voicemill.text.frontend import text_to_phonemes
from voicemill.text.symbols import symbols

SENTENCES = yaml.safe_load((Path(__file__).with_name("frontend_sentences.yaml")).read_text("utf-8"))
MIN_AGREEMENT = 0.98


@dataclass(frozen=True)
class Comparison:
    text: str
    language: str
    ours: list[int]
    upstream: list[int]
    deliberate: str | None

    @property
    def equal(self) -> bool:
        return self.ours == self.upstream

    def describe(self) -> str:
        table = symbols()
        return (
            f"[{self.language}] {self.text}\n"
            f"  upstream: {' '.join(table[i] for i in self.upstream)}\n"
            f"  ours:     {' '.join(table[i] for i in self.ours)}"
        )


@pytest.fixture(scope="module")
def comparisons(peer) -> list[Comparison]:
    results = []
    for entry in SENTENCES:
        upstream = peer.call(
            "text.phones", text=entry["text"], language=entry["language"], tags=entry.get("tags")
        )
        ours = text_to_phonemes(entry["text"], entry["language"]).ids
        results.append(
            Comparison(
                entry["text"], entry["language"], ours, upstream["ids"], entry.get("deliberate")
            )
        )
    return results


def test_the_list_covers_the_frontend() -> None:
    assert len(SENTENCES) >= 200
    languages = {entry["language"] for entry in SENTENCES}
    assert languages == {"zh", "en"}
    mixed = [
        e
        for e in SENTENCES
        if e["language"] == "zh" and any(c.isascii() and c.isalpha() for c in e["text"])
    ]
    assert len(mixed) >= 30


def test_phone_ids_equal_upstreams(comparisons: list[Comparison]) -> None:
    unexpected = [c for c in comparisons if not c.equal and c.deliberate is None]
    assert not unexpected, f"{len(unexpected)} sentences differ from upstream:\n" + "\n".join(
        c.describe() for c in unexpected
    )


def test_deliberate_differences_still_differ(comparisons: list[Comparison]) -> None:
    stale = [c for c in comparisons if c.equal and c.deliberate is not None]
    assert not stale, "now equal to upstream; drop 'deliberate':\n" + "\n".join(
        c.describe() for c in stale
    )


def test_agreement_rate(comparisons: list[Comparison]) -> None:
    agreement = sum(c.equal for c in comparisons) / len(comparisons)
    assert agreement >= MIN_AGREEMENT, f"{agreement:.1%} of sentences equal upstream's"
