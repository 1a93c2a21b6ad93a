"""The data pipeline end to end: real audio, real PostgreSQL, real Dagster runs.

One dataset holds two good recordings with transcripts (with ground truth) and
every bad input; the ``prepare_dataset`` job runs in-process on a Dagster
instance stored in PostgreSQL (the project's dagster.yaml), then again to show
that nothing is redone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voicemill.corpus import write_bad_inputs
from voicemill.corpus.espeak import EspeakVoice
from voicemill.corpus.formats import DEMO_FORMATS, write_audio
from voicemill.corpus.recording import compose_recording, write_transcript
from voicemill.corpus.sentences import SentenceDeck
from voicemill.corpus.truth import recording_truth, write_truth

VOICE = EspeakVoice("en", "en-us", "m3", speed_wpm=150, pitch=45)


def _write_good_recordings(source: Path, truth_dir: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    deck = SentenceDeck("en", rng)
    truths = {}
    for i, fmt in enumerate(DEMO_FORMATS[:2]):
        stem = f"session_{i}"
        recording = compose_recording(deck.deal(3), VOICE, rng)
        name = f"{stem}.{fmt.extension}"
        write_audio(source / name, recording.audio, recording.sample_rate, fmt)
        write_transcript(source / f"{stem}.txt", [s.text for s in recording.sentences])
        truth = recording_truth(
            recording, VOICE, file=name, sample_rate=fmt.sample_rate, channels=fmt.channels
        )
        truths[name] = write_truth(truth, truth_dir)
    return truths


@pytest.fixture(scope="module")
def prepared(platform_home: Path, tmp_path_factory: pytest.TempPathFactory):
    import dagster as dg

    from voicemill.orchestration.workflows import prepare_datasets, register_dataset

    source = tmp_path_factory.mktemp("source")
    truth_dir = tmp_path_factory.mktemp("truth")
    expected = write_bad_inputs(source, voice=VOICE)
    truths = _write_good_recordings(source, truth_dir)
    (source / "notes.md").write_text("not a recording")
    dataset_id = "pipeline_mixed"
    instance = dg.DagsterInstance.get()
    register_dataset(dataset_id, str(source), language="en", dagster_instance=instance)
    first = prepare_datasets([dataset_id], instance)[dataset_id]
    second = prepare_datasets([dataset_id], instance)[dataset_id]
    return {
        "dataset_id": dataset_id,
        "expected": expected,
        "truths": truths,
        "first": first,
        "second": second,
        "instance": instance,
    }


def _catalog(dataset_id: str):
    from voicemill.db import catalog

    with catalog.connect() as conn:
        return (
            catalog.recordings(conn, dataset_id),
            catalog.utterances(conn, dataset_id),
            catalog.quarantined(conn, dataset_id),
        )


def test_run_succeeds_on_a_postgres_backed_instance(prepared) -> None:
    result = prepared["first"]
    assert result.success
    run = prepared["instance"].get_run_by_id(result.run_id)
    assert run is not None and run.tags["dagster/partition"] == prepared["dataset_id"]
    storage = type(prepared["instance"].run_storage).__name__
    assert storage == "PostgresRunStorage"
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["manifest_meets_expectations"]
    assert checks[0].passed


def test_every_bad_input_is_quarantined_with_its_reason(prepared) -> None:
    recordings, _, quarantine = _catalog(prepared["dataset_id"])
    by_item = {(row["stage"], row["item"]): row for row in quarantine}
    for name, outcome in prepared["expected"].items():
        if outcome.succeeds:
            continue
        row = by_item.get((outcome.stage, name))
        assert row is not None, f"{name}: no quarantine entry at stage {outcome.stage}"
        assert row["reason"] == outcome.reason, (name, row["reason"], row["detail"])
        assert row["detail"], f"{name}: quarantine entry has no detail"
    assert by_item[("ingest", "notes.md")]["reason"] == "unsupported_file_type"
    # nothing is lost: every audio file was copied into the raw store
    stored = {r["source_name"]: Path(r["stored_path"]) for r in recordings}
    for name in prepared["expected"]:
        assert stored[name].exists(), name


def test_good_files_in_the_same_batch_reach_the_manifest(prepared) -> None:
    from voicemill.data.layout import DatasetLayout
    from voicemill.settings import get_settings

    recordings, utterances, _ = _catalog(prepared["dataset_id"])
    accepted_by_recording: dict[str, int] = {}
    for u in utterances:
        if u["status"] == "accepted":
            accepted_by_recording[u["recording_id"]] = (
                accepted_by_recording.get(u["recording_id"], 0) + 1
            )
    names = {r["recording_id"]: r["source_name"] for r in recordings}
    reached = {names[rid] for rid in accepted_by_recording}
    must_succeed = {n for n, o in prepared["expected"].items() if o.succeeds}
    must_succeed |= set(prepared["truths"])
    assert must_succeed <= reached

    layout = DatasetLayout(get_settings().data_dir, prepared["dataset_id"])
    manifest = pd.read_parquet(layout.manifest_path)
    assert len(manifest) == sum(accepted_by_recording.values())
    assert set(manifest["sample_rate"]) == {32000}
    assert manifest["utterance_id"].is_unique
    assert (manifest["text"].str.len() > 0).all()
    lines = layout.list_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(manifest)
    path, speaker, lang, text = lines[0].split("|")
    assert Path(path).exists() and speaker == prepared["dataset_id"] and lang == "en" and text


def test_offline_alignment_matches_known_sentence_timings(prepared) -> None:
    recordings, utterances, _ = _catalog(prepared["dataset_id"])
    errors = []
    for name, truth_path in prepared["truths"].items():
        truth = json.loads(Path(truth_path).read_text())
        rec = next(r for r in recordings if r["source_name"] == name)
        utts = sorted(
            (u for u in utterances if u["recording_id"] == rec["recording_id"]),
            key=lambda u: u["start_s"],
        )
        assert [u["status"] for u in utts] == ["accepted"] * len(truth["sentences"])
        for utt, sentence in zip(utts, truth["sentences"], strict=True):
            words = utt["words"]
            assert utt["alignment_method"] and words
            first = utt["start_s"] + words[0]["start_s"]
            last = utt["start_s"] + words[-1]["end_s"]
            errors += [abs(first - sentence["start_s"]), abs(last - sentence["end_s"])]
    # espeak's sentence edges are soft (breath-like onsets); 15 ms was measured on words.
    assert float(np.mean(errors)) < 0.08, errors
    assert max(errors) < 0.25, errors


def test_second_run_changes_nothing(prepared) -> None:
    second = prepared["second"]
    assert second.success
    materializations = {
        m.asset_key.to_user_string(): m.metadata
        for m in second.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]
    }
    assert materializations["raw_recordings"]["new_recordings"].value == 0
    for asset in ("standardized_recordings", "utterance_segments", "aligned_utterances"):
        assert materializations[asset]["processed"].value == 0, asset
        assert materializations[asset]["skipped_unchanged"].value > 0, asset
    first_meta = {
        m.event_specific_data.materialization.asset_key.to_user_string():
            m.event_specific_data.materialization.metadata
        for m in prepared["first"].get_asset_materialization_events()
    }  # fmt: skip
    assert (
        materializations["training_manifest"]["manifest_sha256"].value
        == first_meta["training_manifest"]["manifest_sha256"].value
    )
