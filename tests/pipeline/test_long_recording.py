"""A 2-hour recording goes through ingest → standardize → segment in bounded memory,
in the same batch as an ordinary file.

The stages run in a child process so that its peak RSS belongs to this work alone
(measured ~95 MB of growth for the 2 hours once the VAD model is loaded).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voicemill.corpus import write_long_recording

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from voicemill.audio.config import SegmentationConfig, StandardizeConfig
    from voicemill.data.ingest import ingest_source
    from voicemill.data.layout import DatasetLayout
    from voicemill.data.segmentation import segment_recordings
    from voicemill.data.standardization import standardize_recordings
    from voicemill.db import catalog
    from voicemill.audio.vad import load_vad_model
    from voicemill.settings import get_settings

    # Loading torch and the VAD model maps a few hundred MB of libraries; that is a
    # fixed cost, so it is paid before measuring what the audio itself costs.
    load_vad_model()
    dataset_id, source = sys.argv[1], sys.argv[2]
    layout = DatasetLayout(get_settings().data_dir, dataset_id)
    with catalog.connect() as conn:
        catalog.upsert_dataset(conn, dataset_id, source, language="en")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ingest_source(conn, layout, source)
        standardized = standardize_recordings(conn, layout, StandardizeConfig())
        segmented = segment_recordings(conn, layout, SegmentationConfig())
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        counts = {
            r["source_name"]: sum(
                1 for u in catalog.utterances(conn, dataset_id)
                if u["recording_id"] == r["recording_id"] and u["status"] == "segmented"
            )
            for r in catalog.recordings(conn, dataset_id)
        }
    print(json.dumps({
        "rss_growth_mb": (after - before) / 1024,
        "standardized": standardized.processed,
        "quarantined": {**standardized.quarantined, **segmented.quarantined},
        "segments": counts,
    }))
    """
)


@pytest.mark.slow
def test_two_hour_recording_is_prepared_in_bounded_memory(
    platform_home: Path, tmp_path: Path, dataset_id: str
) -> None:
    source = tmp_path / "source"
    long = write_long_recording(source / "two_hours.flac", 2.0, sample_rate=16000)
    short = write_long_recording(source / "short take.wav", 0.01, sample_rate=22050, seed=1)

    proc = subprocess.run(
        [sys.executable, "-c", CHILD, dataset_id, str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    assert sorted(result["standardized"]) == ["short take.wav", "two_hours.flac"]
    assert result["quarantined"] == {}
    # Every tiled sentence of the long file becomes an utterance (a few may merge).
    assert result["segments"]["two_hours.flac"] >= 0.9 * long.n_sentences
    assert result["segments"]["short take.wav"] >= 0.9 * short.n_sentences
    # Loading the decoded 2 h as float32 alone would take 460 MB (at 32 kHz: 920 MB).
    assert result["rss_growth_mb"] < 250, result["rss_growth_mb"]
