"""Hostile templates: each ends in a clear rejection of its rows, within bounded time and
memory, while the other rows of the campaign are rendered as usual.

The limits are real: rendering runs in a child process under ``RLIMIT_AS`` and a
per-row wall clock (voicemill.campaign.render_process). The parent's own peak memory
is measured around each case so that a template which slips past the child (built in
the parent) fails the test.
"""

from __future__ import annotations

import resource
import threading
import time

import pandas as pd
import pytest

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.recipients import prepare_recipients
from voicemill.campaign.render import compile_templates
from voicemill.campaign.render_process import RenderLimits, RenderProcess
from voicemill.campaign.spec import CampaignSpec

LIMITS = RenderLimits(timeout_s=1.0, memory_mb=512)
MAX_SECONDS = 30.0  # every case, child start and restarts included
MAX_PARENT_GROWTH_MB = 100

HOSTILE = {
    # Sized by its elements: a million characters per item, a hundred thousand items.
    "list_join": ("{{ (['x' * 100000] * 100000) | join | length }}", {"sandbox_violation"}),
    # Each replace multiplies by ten: 10^9 characters after four.
    "replace_chain": (
        "{{ ('x' * 100000) | replace('x', 'xxxxxxxxxx') | replace('x', 'xxxxxxxxxx')"
        " | replace('x', 'xxxxxxxxxx') | replace('x', 'xxxxxxxxxx') | length }}",
        {"render_memory"},
    ),
    # A separator joined between a hundred thousand items: 10^10 characters.
    "join_separator": (
        "{{ ('x' * 100000) | list | join('y' * 99999) | length }}",
        {"render_memory"},
    ),
    "namespace_doubling": (
        "{% set ns = namespace(s='x' * 100000) %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        {"render_memory"},
    ),
    "nested_loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}done",
        {"render_timeout"},
    ),
    "macro_recursion": (
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        {"template_too_complex", "render_timeout"},
    ),
}


def _spec(hostile: str) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "campaign_id": "hostile",
            "voice_profile": "ann",
            "language": "en",
            "templates": [
                {"id": "main", "text": "Hello {{ first_name }}, welcome back."},
                {"id": "bad", "text": hostile},
            ],
        }
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_template_rejects_its_rows_and_the_rest_render(case: str) -> None:
    template, reasons = HOSTILE[case]
    frame = pd.DataFrame(
        {
            "recipient_id": ["r-1", "r-2", "r-3", "r-4"],
            "template_id": ["main", "bad", "main", "bad"],
            "first_name": ["Ann", "Bob", "Cleo", "Dan"],
        }
    )
    before = _peak_mb()
    started = time.monotonic()
    prepared = prepare_recipients(_spec(template), frame, LIMITS)
    elapsed = time.monotonic() - started
    assert elapsed < MAX_SECONDS, f"{case} took {elapsed:.1f} s"
    assert _peak_mb() - before < MAX_PARENT_GROWTH_MB, f"{case} grew the caller's memory"
    assert [r.recipient_id for r in prepared.accepted] == ["r-1", "r-3"]
    assert [r.text for r in prepared.accepted] == [
        "Hello Ann, welcome back.",
        "Hello Cleo, welcome back.",
    ]
    assert {r.recipient_id for r in prepared.rejected} == {"r-2", "r-4"}
    for row in prepared.rejected:
        assert row.reason in reasons, (case, row.reason, row.detail)
        assert row.template_id == "bad" and row.detail.startswith(f"row {row.row_number}: ")


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 400 + "1" + ")" * 400 + " }}",  # RecursionError in Jinja's parser
        "{{ " + "(" * 205 + ")" * 205 + " }}",  # the reviewer's ~410 characters
        "{{ " + "not " * 2000 + "x }}",
        "{% if a %}" * 200 + "x" + "{% endif %}" * 200,  # past Python's 100 nested blocks
        "{{ [" * 300 + "1" + "] }}" * 300,
    ],
)
def test_deeply_nested_templates_are_refused_before_parsing(source: str) -> None:
    spec = _spec(source)
    started = time.monotonic()
    with pytest.raises(CampaignError) as info:
        compile_templates(spec)
    assert info.value.reason in {"template_too_complex", "template_syntax"}
    assert "'bad'" in info.value.detail
    assert time.monotonic() - started < 5


def test_ordinary_nesting_still_compiles() -> None:
    source = "{% if a %}{% for i in range(2) %}{{ ((1 + 2) * (3 - -4)) }}{% endfor %}{% endif %}"
    compile_templates(_spec(source))


def test_a_renderer_killed_mid_row_is_restarted_for_the_next_row() -> None:
    """The kernel's OOM killer (or anyone) killing the child mid-render: that row is
    ``render_crashed`` at once, not after its timeout, and the next row renders."""
    spec = _spec(
        "{% if first_name == 'spin' %}{% for a in range(100000) %}{% for b in range(100000) %}"
        "{% endfor %}{% endfor %}{% endif %}{{ first_name }} said hi."
    )
    with RenderProcess(spec, RenderLimits(timeout_s=60, memory_mb=512)) as renderer:
        assert renderer.render("bad", {"first_name": "Ann"}).text == "Ann said hi."
        assert renderer._proc is not None
        threading.Timer(0.5, renderer._proc.kill).start()
        started = time.monotonic()
        with pytest.raises(CampaignError) as info:
            renderer.render("bad", {"first_name": "spin"})
        assert info.value.reason == "render_crashed"
        assert time.monotonic() - started < 10
        assert renderer.render("bad", {"first_name": "Cleo"}).text == "Cleo said hi."
        assert renderer.restarts == 1


def test_a_renderer_that_cannot_start_stops_the_campaign_not_each_row() -> None:
    """Too little memory to even import: no row is to blame, so nothing is rejected;
    the whole preparation fails with the reason (and the campaign with it)."""
    frame = pd.DataFrame({"recipient_id": ["r-1", "r-2"], "first_name": ["Ann", "Bob"]})
    started = time.monotonic()
    with pytest.raises(CampaignError) as info:
        prepare_recipients(_spec("{{ first_name }}"), frame, RenderLimits(memory_mb=24))
    assert info.value.reason == "render_unavailable"
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_row_with_a_huge_number_is_spoken_digit_by_digit_in_bounded_time(
    language: str,
) -> None:
    """A 9,000-digit "amount" once took the English normalizer minutes (cubic
    backtracking) and overflowed the Mandarin one's stack; it is read digit by digit."""
    spec = CampaignSpec.model_validate(
        {
            "campaign_id": "digits",
            "voice_profile": "ann",
            "language": language,
            "text_limits": {"max_chars": 10_000},
            "templates": [{"id": "main", "text": "{{ amount }}"}],
        }
    )
    frame = pd.DataFrame({"recipient_id": ["r-1"], "amount": ["9" * 9000]})
    started = time.monotonic()
    prepared = prepare_recipients(spec, frame, LIMITS)
    assert time.monotonic() - started < 30
    (row,) = prepared.accepted
    digit = "nine" if language == "en" else "九"
    assert row.spoken_text.count(digit) == 9000
