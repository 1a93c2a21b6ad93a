"""The README's main command, on a small corpus: every file ends as the corpus expects."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_prepares_every_dataset_and_quarantines_what_it_should(
    platform_home: Path, tmp_path: Path
) -> None:
    from voicemill.corpus import read_corpus_summary
    from voicemill.orchestration.workflows import run_demo, unexpected_outcomes

    corpus_dir = tmp_path / "corpus"
    results = run_demo(
        corpus_dir, recordings_per_speaker=1, sentences_per_recording=3, voices=False
    )
    corpus = read_corpus_summary(corpus_dir)
    assert set(results) == set(corpus.speakers) and len(results) >= 5
    assert all(results.values()), results
    assert unexpected_outcomes(corpus) == []
    bad = [f for d in corpus.datasets for f in d.files if not f.expected.succeeds]
    assert len(bad) >= 12  # the bad inputs are really in there
