"""A GPT-SoVITS ``.list`` source: per-utterance transcripts, unsafe paths quarantined."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voicemill.corpus.espeak import EspeakVoice
from voicemill.corpus.formats import DEMO_FORMATS, write_audio
from voicemill.corpus.recording import compose_recording

VOICE = EspeakVoice("en", "en-gb", "f2", speed_wpm=160, pitch=60)
SENTENCES = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue."]


def test_list_entries_outside_the_folder_are_quarantined_and_the_rest_prepared(
    platform_home: Path, tmp_path: Path, dataset_id: str
) -> None:
    import dagster as dg

    from voicemill.db import catalog
    from voicemill.orchestration.workflows import prepare_datasets, register_dataset

    root = tmp_path / "export"
    clips = root / "clips"
    clips.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i, text in enumerate(SENTENCES):
        rec = compose_recording([text], VOICE, rng)
        write_audio(clips / f"utt{i}.wav", rec.audio, rec.sample_rate, DEMO_FORMATS[0])
    secret = tmp_path / "secret.wav"
    secret.write_bytes((clips / "utt0.wav").read_bytes())
    list_file = root / "speaker.list"
    list_file.write_text(
        "\n".join(
            [
                f"clips/utt0.wav|spk|en|{SENTENCES[0]}",
                "../secret.wav|spk|en|Outside the export folder.",
                "clips/../../secret.wav|spk|en|Also outside.",
                f"clips/utt1.wav|spk|en|{SENTENCES[1]}",
                "clips/missing.wav|spk|en|Never recorded.",
                "no separators here",
            ]
        )
        + "\n",
        encoding="utf-8",
    )

    instance = dg.DagsterInstance.get()
    register_dataset(dataset_id, str(list_file), language="en", dagster_instance=instance)
    result = prepare_datasets([dataset_id], instance)[dataset_id]
    assert result.success

    with catalog.connect() as conn:
        quarantine = {(q["item"], q["reason"]) for q in catalog.quarantined(conn, dataset_id)}
        accepted = catalog.utterances(conn, dataset_id, status="accepted")
        recordings = catalog.recordings(conn, dataset_id)
    assert ("../secret.wav", "unsafe_path") in quarantine
    assert ("clips/../../secret.wav", "unsafe_path") in quarantine
    assert ("clips/missing.wav", "missing_file") in quarantine
    assert ("line 6", "malformed_list_line") in quarantine
    assert sorted(r["source_name"] for r in recordings) == ["clips/utt0.wav", "clips/utt1.wav"]
    assert sorted(u["text"] for u in accepted) == sorted(SENTENCES)


def test_fsspec_url_source_is_ingested_once(
    platform_home: Path, tmp_path: Path, dataset_id: str
) -> None:
    import fsspec

    from voicemill.data.ingest import ingest_source
    from voicemill.data.layout import DatasetLayout
    from voicemill.db import catalog
    from voicemill.settings import get_settings

    rec = compose_recording([SENTENCES[0]], VOICE, np.random.default_rng(4))
    local = tmp_path / "take.flac"
    write_audio(local, rec.audio, rec.sample_rate, DEMO_FORMATS[2])
    fs = fsspec.filesystem("memory")
    root = f"/{dataset_id}"
    fs.pipe(f"{root}/day one/take.flac", local.read_bytes())
    fs.pipe(f"{root}/day one/take.txt", SENTENCES[0].encode())
    fs.pipe(f"{root}/day two/copy of take.flac", local.read_bytes())  # same bytes again

    layout = DatasetLayout(get_settings().data_dir, dataset_id)
    with catalog.connect() as conn:
        catalog.upsert_dataset(conn, dataset_id, f"memory://{root}")
        first = ingest_source(conn, layout, f"memory://{root}")
        second = ingest_source(conn, layout, f"memory://{root}")
        recordings = catalog.recordings(conn, dataset_id)
    assert first.registered == ["day one/take.flac"]
    assert first.unchanged == []
    # identical content: recorded with the file it repeats, not silently merged
    assert first.duplicates == {"day two/copy of take.flac": "day one/take.flac"}
    assert second.duplicates == first.duplicates
    assert second.registered == [] and first.bytes_copied > 0 and second.bytes_copied == 0
    (recording,) = recordings
    assert recording["transcript"] == SENTENCES[0]
    assert recording["source_uri"] == f"memory://{root}/day one/take.flac"
    assert Path(recording["stored_path"]).read_bytes() == local.read_bytes()


def test_a_corrected_transcript_releases_the_recording_from_quarantine(
    platform_home: Path, tmp_path: Path, dataset_id: str
) -> None:
    import dagster as dg

    from voicemill.db import catalog
    from voicemill.orchestration.workflows import prepare_datasets, register_dataset

    source = tmp_path / "source"
    source.mkdir()
    rec = compose_recording(SENTENCES, VOICE, np.random.default_rng(8))
    write_audio(source / "take.wav", rec.audio, rec.sample_rate, DEMO_FORMATS[0])
    (source / "take.txt").write_bytes("Caf\xe9 au lait.".encode("latin-1"))

    instance = dg.DagsterInstance.get()
    register_dataset(dataset_id, str(source), language="en", dagster_instance=instance)
    prepare_datasets([dataset_id], instance)
    with catalog.connect() as conn:
        (entry,) = catalog.quarantined(conn, dataset_id)
    assert (entry["stage"], entry["item"], entry["reason"]) == (
        "transcript", "take.wav", "transcript_not_utf8"
    )  # fmt: skip

    (source / "take.txt").write_text("\n".join(SENTENCES), encoding="utf-8")
    result = prepare_datasets([dataset_id], instance)[dataset_id]
    assert result.success
    with catalog.connect() as conn:
        assert catalog.quarantined(conn, dataset_id) == []
        accepted = catalog.utterances(conn, dataset_id, status="accepted")
    assert sorted(u["text"] for u in accepted) == sorted(SENTENCES)
