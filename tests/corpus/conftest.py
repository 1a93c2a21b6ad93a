"""Small synthetic corpora shared by the corpus tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicemill.corpus import CorpusSummary, ExpectedOutcome, generate_demo_corpus, write_bad_inputs

SMALL = {"recordings_per_speaker": 1, "sentences_per_recording": 3}


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusSummary]:
    root = tmp_path_factory.mktemp("corpus") / "demo"
    return root, generate_demo_corpus(root, seed=7, **SMALL)


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ExpectedOutcome]]:
    folder = tmp_path_factory.mktemp("bad") / "dataset"
    return folder, write_bad_inputs(folder, truth_dir=folder.parent / "_truth", seed=3)
