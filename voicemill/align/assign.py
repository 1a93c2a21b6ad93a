"""Distribute a recording-level transcript over the recording's VAD segments.

A long recording comes with one transcript; VAD cuts the audio into segments that do not
line up with sentences (a pause mid-sentence splits it, a quick reader runs two together,
a cough becomes a segment of its own). We match them by duration with a monotonic
dynamic program, the classic length-based alignment idea of Gale & Church for parallel
text: each sentence's expected duration is its length in speech units times a speaking
rate fitted on the whole recording (total speech time / total units), and the program
minimises the squared log-ratio between a group's speech duration and its expectation.

Allowed groups (n consecutive sentences <-> k consecutive segments):

* 1 sentence <-> k segments (k <= 3): VAD split a sentence. Costs ``split_cost`` per extra
  segment plus ``gap_cost_per_s`` per second of silence inside the group, since long
  pauses are more likely sentence boundaries.
* n sentences <-> 1 segment (n <= 3): costs ``merge_cost`` per extra sentence.
* 0 sentences <-> 1 segment: the segment is skipped (noise, cough, off-script speech) at
  ``skip_cost + skip_cost_per_unit * (segment duration / rate)``, so short segments are
  cheap to drop and long ones are not.

Every sentence and every segment appears in exactly one assignment. The rate is refitted
once on the segments that received text, so skipped noise does not bias it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from voicemill.align.base import AlignmentError
from voicemill.text.normalize import normalize_text

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_VOWEL_GROUP_RE = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class Assignment:
    segment_indices: tuple[int, ...]
    sentence_indices: tuple[int, ...]  # empty: the segment gets no text
    text: str
    duration_fit: float  # min(actual/expected, expected/actual); 0 for skipped segments


@dataclass(frozen=True)
class AssignmentCosts:
    """Tunable costs of :func:`assign_sentences` (in units of squared log-ratio / 2σ²)."""

    rate_sigma: float = 0.3  # spread of per-sentence speaking rate, in log units
    split_cost: float = 0.5
    gap_cost_per_s: float = 2.0
    merge_cost: float = 0.5
    skip_cost: float = 1.0
    skip_cost_per_unit: float = 0.3
    max_segments_per_sentence: int = 3
    max_sentences_per_segment: int = 3
    # Search band: a path may drift this far (seconds of speech) from the diagonal set by
    # the fitted rate; keeps 2-hour recordings fast. Widened to everything on failure.
    band_min_s: float = 120.0
    band_fraction: float = 0.05


def speech_units(text: str, language: str) -> float:
    """Length of ``text`` in rough syllables: a proxy for how long it takes to say.

    English: vowel groups per word (at least one per word, silent final e dropped);
    Mandarin: one per hanzi plus English syllables for embedded Latin words.
    """
    normalized = normalize_text(text, language)
    units = 0
    for token in normalized.split():
        hanzi = len(_HAN_RE.findall(token))
        if hanzi:
            units += hanzi
            continue
        word = token.replace("'", "")
        if len(word) > 2 and word.endswith("e") and not word.endswith(("le", "ee")):
            word = word[:-1]
        units += max(1, len(_VOWEL_GROUP_RE.findall(word)))
    return float(units)


def assign_sentences(
    sentences: Sequence[str],
    language: str,
    segments: Sequence[tuple[float, float]],
    costs: AssignmentCosts | None = None,
) -> list[Assignment]:
    """Assign consecutive sentences to consecutive segments (both in time order).

    Raises ``AlignmentError`` with ``empty_transcript``, ``no_segments``,
    ``invalid_segments`` or ``assignment_infeasible`` (more sentences than
    ``max_sentences_per_segment`` x segments).
    """
    costs = costs or AssignmentCosts()
    if not sentences:
        raise AlignmentError("empty_transcript", "no sentences to assign")
    if not segments:
        raise AlignmentError("no_segments", "no speech segments to assign sentences to")
    _check_segments(segments)
    units = [speech_units(s, language) for s in sentences]
    if sum(units) <= 0:
        raise AlignmentError("empty_transcript", "sentences contain no speakable text")
    units = [max(u, 0.5) for u in units]  # a sentence of only symbols still takes time
    durations = [end - start for start, end in segments]

    rate = sum(durations) / sum(units)
    plan = _best_plan(units, segments, durations, rate, costs)
    assigned_speech = sum(durations[k] for sent_ids, seg_ids in plan if sent_ids for k in seg_ids)
    refit = assigned_speech / sum(units)
    if assigned_speech > 0 and not math.isclose(refit, rate, rel_tol=1e-3):
        rate = refit
        plan = _best_plan(units, segments, durations, rate, costs)

    joiner = "" if language == "zh" else " "
    assignments: list[Assignment] = []
    for sent_ids, seg_ids in plan:
        speech = sum(durations[k] for k in seg_ids)
        if sent_ids:
            expected = sum(units[i] for i in sent_ids) * rate
            fit = min(speech / expected, expected / speech) if speech > 0 else 0.0
            text = joiner.join(sentences[i].strip() for i in sent_ids)
        else:
            fit, text = 0.0, ""
        assignments.append(Assignment(tuple(seg_ids), tuple(sent_ids), text, float(fit)))
    return assignments


def _best_plan(
    units: list[float],
    segments: Sequence[tuple[float, float]],
    durations: list[float],
    rate: float,
    costs: AssignmentCosts,
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Minimum-cost monotonic grouping; returns (sentence ids, segment ids) per group."""
    total = sum(durations)
    band = max(costs.band_min_s, costs.band_fraction * total)
    plan = _search(units, segments, durations, rate, costs, band)
    if plan is None and band < total:
        plan = _search(units, segments, durations, rate, costs, math.inf)
    if plan is None:
        raise AlignmentError(
            "assignment_infeasible",
            f"{len(units)} sentences cannot be spread over {len(segments)} segments "
            f"(at most {costs.max_sentences_per_segment} sentences per segment)",
        )
    return plan


def _search(
    units: list[float],
    segments: Sequence[tuple[float, float]],
    durations: list[float],
    rate: float,
    costs: AssignmentCosts,
    band: float,
) -> list[tuple[tuple[int, ...], tuple[int, ...]]] | None:
    n, m = len(units), len(segments)
    inf = math.inf
    two_var = 2.0 * costs.rate_sigma**2
    cost: list[dict[int, float]] = [{} for _ in range(n + 1)]
    back: list[dict[int, tuple[int, int]]] = [{} for _ in range(n + 1)]
    cost[0][0] = 0.0
    cum_units = [0.0, *itertools.accumulate(units)]
    cum_dur = [0.0, *itertools.accumulate(durations)]

    def relax(i0: int, j0: int, i1: int, j1: int, value: float) -> None:
        if value < cost[i1].get(j1, inf):
            cost[i1][j1] = value
            back[i1][j1] = (i0, j0)

    def fit_cost(i0: int, i1: int, j0: int, j1: int) -> float:
        speech = cum_dur[j1] - cum_dur[j0]
        expected = (cum_units[i1] - cum_units[i0]) * rate
        return math.log(speech / expected) ** 2 / two_var

    for i in range(n + 1):
        centre = cum_units[i] * rate
        lo = bisect.bisect_left(cum_dur, centre - band)
        hi = bisect.bisect_right(cum_dur, centre + band)
        for j in range(lo, hi):
            here = cost[i].get(j, inf)
            if here == inf:
                continue
            if j < m:  # skip segment j
                skip = costs.skip_cost + costs.skip_cost_per_unit * durations[j] / rate
                relax(i, j, i, j + 1, here + skip)
            if i == n:
                continue
            gaps = 0.0
            for k in range(1, costs.max_segments_per_sentence + 1):  # 1 sentence, k segments
                if j + k > m:
                    break
                if k > 1:
                    gaps += max(segments[j + k - 1][0] - segments[j + k - 2][1], 0.0)
                extra = (k - 1) * costs.split_cost + costs.gap_cost_per_s * gaps
                relax(i, j, i + 1, j + k, here + fit_cost(i, i + 1, j, j + k) + extra)
            if j < m:  # s sentences, 1 segment
                for s in range(2, costs.max_sentences_per_segment + 1):
                    if i + s > n:
                        break
                    extra = (s - 1) * costs.merge_cost
                    relax(i, j, i + s, j + 1, here + fit_cost(i, i + s, j, j + 1) + extra)

    if m not in cost[n]:
        return None
    plan: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    i, j = n, m
    while (i, j) != (0, 0):
        pi, pj = back[i][j]
        plan.append((tuple(range(pi, i)), tuple(range(pj, j))))
        i, j = pi, pj
    plan.reverse()
    return plan


def _check_segments(segments: Sequence[tuple[float, float]]) -> None:
    previous_end = -math.inf
    for idx, (start, end) in enumerate(segments):
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise AlignmentError("invalid_segments", f"segment {idx} ({start}, {end}) is empty")
        if start < previous_end - 1e-6:
            raise AlignmentError(
                "invalid_segments", f"segment {idx} starts before segment {idx - 1} ends"
            )
        previous_end = end
