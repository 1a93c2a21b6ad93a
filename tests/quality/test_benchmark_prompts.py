"""The release yardstick: the shipped benchmark set loads, speaks, and refuses bad edits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from voicemill.quality.benchmark import (
    BENCHMARK_FILE,
    REQUIRED_CATEGORIES,
    load_benchmark,
)
from voicemill.text.frontend import text_to_phonemes


@pytest.fixture
def shipped() -> dict:
    return yaml.safe_load(BENCHMARK_FILE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict) -> Path:
    lexicon = BENCHMARK_FILE.parent / "benchmark_lexicon.yaml"
    (tmp_path / "benchmark_lexicon.yaml").write_text(lexicon.read_text(encoding="utf-8"))
    path = tmp_path / "prompts.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_set_covers_every_category_and_every_prompt_speaks() -> None:
    benchmark = load_benchmark()
    assert {p.category for p in benchmark.prompts} >= REQUIRED_CATEGORIES
    lexicon = benchmark.load_lexicon()
    for prompt in benchmark.prompts:
        phonemes = text_to_phonemes(prompt.text, prompt.language, lexicon)
        assert len(phonemes.ids) >= 10, prompt.id
        preset = benchmark.preset_for(prompt)
        assert preset.seed == prompt.seed >= 0


def test_long_paragraph_is_one_line_and_long() -> None:
    (paragraph,) = [p for p in load_benchmark().prompts if p.category == "long_paragraph"]
    assert "\n" not in paragraph.text and "  " not in paragraph.text
    assert len(paragraph.text) > 250


def test_domain_terms_are_pronounced_from_the_benchmark_lexicon() -> None:
    benchmark = load_benchmark()
    lexicon = benchmark.load_lexicon()
    (prompt,) = [p for p in benchmark.prompts if p.id == "en-domain"]
    with_lexicon = text_to_phonemes(prompt.text, prompt.language, lexicon).phones
    without = text_to_phonemes(prompt.text, prompt.language).phones
    assert with_lexicon[:6] == ["V", "OY1", "S", "M", "IH2", "L"]
    assert with_lexicon != without


def test_fingerprint_is_stable_and_follows_the_prompts(tmp_path: Path, shipped: dict) -> None:
    assert load_benchmark().fingerprint == load_benchmark().fingerprint
    same = load_benchmark(_write(tmp_path, shipped))
    assert same.fingerprint == load_benchmark().fingerprint  # location does not matter
    shipped["prompts"][0]["seed"] += 1
    assert load_benchmark(_write(tmp_path, shipped)).fingerprint != same.fingerprint


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["prompts"].append(dict(d["prompts"][0])), "duplicate prompt ids"),
        (lambda d: d["prompts"][0].update(preset="fast"), "not defined"),
        (lambda d: d["prompts"][0].update(seed=-1), "greater than or equal to 0"),
        (
            lambda d: d.update(prompts=[p for p in d["prompts"] if p["category"] != "numbers"]),
            "numbers",
        ),
        (lambda d: d["presets"]["standard"].update(top_k=0), "top_k"),
    ],
)
def test_broken_edits_are_refused_with_the_reason(
    tmp_path: Path, shipped: dict, edit, message: str
) -> None:
    edit(shipped)
    with pytest.raises(ValidationError, match=message):
        load_benchmark(_write(tmp_path, shipped))
