"""The code location: what it defines, that it validates, and that it loads light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from voicemill.settings import PROJECT_ROOT

HEAVY_MODULES = ["torch", "great_expectations", "whisperx", "silero_vad", "pocketsphinx",
                 "faster_whisper", "transformers", "librosa"]  # fmt: skip


def test_definitions_expose_the_data_pipeline_the_voice_chain_and_campaigns() -> None:
    from voicemill.orchestration.definitions import defs

    repo = defs.get_repository_def()
    keys = sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys())
    data = [
        "aligned_utterances",
        "raw_recordings",
        "standardized_recordings",
        "training_manifest",
        "utterance_segments",
    ]
    voices = [
        "champion_regression",
        "voice_champion",
        "voice_evaluation",
        "voice_features",
        "voice_model",
        "voice_release",
    ]
    campaigns = ["campaign_recipients", "campaign_audio", "campaign_report"]
    assert keys == sorted([*data, *voices, *campaigns, "base_model"])
    for key in campaigns:
        partitions = repo.asset_graph.get(dg.AssetKey(key)).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition)
        assert partitions.name == "campaigns"
    for key in data + voices:
        partitions = repo.asset_graph.get(dg.AssetKey(key)).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition)
        assert partitions.name == "datasets"
    assert repo.asset_graph.get(dg.AssetKey("base_model")).partitions_def is None
    checks = {c.name: c for c in repo.asset_graph.asset_check_keys}
    assert set(checks) == {
        "manifest_meets_expectations",
        "challenger_earns_champion",
        "champion_holds_its_scores",
        "recipients_meet_expectations",
        "campaign_failure_rate",
        "campaign_durations_fit_texts",
        "campaign_loudness_compliance",
    }
    (nightly,) = repo.schedule_defs
    assert nightly.name == "nightly_regression_schedule" and nightly.cron_schedule == "0 3 * * *"
    assert defs.resolve_job_def("prepare_dataset").tags["dagster/priority"] == "0"
    assert defs.resolve_job_def("train_voice").tags["voicemill/lane"] == "training"
    assert {s.name for s in repo.sensor_defs} == {
        "recordings_inbox_sensor",
        "campaign_inbox_sensor",
    }
    campaign_job = defs.resolve_job_def("deliver_campaign")
    assert campaign_job.tags["voicemill/lane"] == "campaign"  # capped in dagster.yaml
    assert campaign_job.tags["dagster/priority"] == "1"
    assert int(campaign_job.tags["dagster/max_runtime"]) == 24 * 3600  # the run monitor's bound
    aligned = repo.assets_defs_by_key[dg.AssetKey("aligned_utterances")]
    assert aligned.op.pool == "asr"
    for training in ("base_model", "voice_model"):  # training runs queue, never collide
        assert repo.assets_defs_by_key[dg.AssetKey(training)].op.pool == "gpu"


def test_loading_definitions_imports_no_heavy_library() -> None:
    code = (
        "import sys, json, voicemill.orchestration.definitions\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_dagster_validates_the_workspace_code_location(platform_home: Path) -> None:
    voicemill = str(Path(sys.executable).with_name("voicemill"))
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    proc = subprocess.run(
        [voicemill, "dagster", "definitions", "validate", "-w", workspace],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Validation successful for code location voicemill" in proc.stdout + proc.stderr
