"""The training manifest: accepted utterances with every measurement.

Written as Parquet (pyarrow) for the platform and as a GPT-SoVITS ``.list``
(``path|speaker|lang|text``) so the data also trains in upstream tools.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import soundfile as sf

from voicemill.data.layout import DatasetLayout
from voicemill.db import catalog

MANIFEST_COLUMNS = [
    "utterance_id",
    "dataset_id",
    "speaker",
    "recording_id",
    "source_name",
    "start_s",
    "end_s",
    "duration_s",
    "audio_path",
    "sample_rate",
    "language",
    "text",
    "normalized_text",
    "words_json",
    "alignment_score",
    "alignment_method",
    "snr_db",
    "clipping_ratio",
    "loudness_lufs",
    "recording_loudness_lufs",
    "recording_snr_db",
]
LIST_SEPARATOR = "|"


def build_manifest(conn: psycopg.Connection, dataset_id: str) -> pd.DataFrame:
    """Accepted utterances joined with their recording's measurements."""
    dataset = catalog.get_dataset(conn, dataset_id)
    if dataset is None:
        raise KeyError(f"unknown dataset {dataset_id!r}")
    recordings = {r["recording_id"]: r for r in catalog.recordings(conn, dataset_id)}
    rows = []
    for utt in catalog.utterances(conn, dataset_id, status="accepted"):
        rec = recordings[utt["recording_id"]]
        measurements = rec["measurements"] or {}
        info = sf.info(utt["audio_path"])
        rows.append(
            {
                "utterance_id": utt["utterance_id"],
                "dataset_id": dataset_id,
                "speaker": dataset["speaker"],
                "recording_id": utt["recording_id"],
                "source_name": rec["source_name"],
                "start_s": utt["start_s"],
                "end_s": utt["end_s"],
                "duration_s": info.frames / info.samplerate,
                "audio_path": utt["audio_path"],
                "sample_rate": info.samplerate,
                "language": utt["language"],
                "text": utt["text"],
                "normalized_text": utt["normalized_text"],
                "words_json": json.dumps(utt["words"] or [], ensure_ascii=False),
                "alignment_score": utt["alignment_score"],
                "alignment_method": utt["alignment_method"],
                "snr_db": utt["snr_db"],
                "clipping_ratio": utt["clipping_ratio"],
                "loudness_lufs": utterance_loudness(utt["audio_path"]),
                "recording_loudness_lufs": measurements.get("output_lufs"),
                "recording_snr_db": measurements.get("snr_db"),
            }
        )
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def utterance_loudness(path: str | Path) -> float:
    """Integrated loudness (LUFS) of a short clip; NaN if too short to gate."""
    import pyloudnorm

    audio, rate = sf.read(path, dtype="float64")
    if len(audio) < int(0.4 * rate):
        return float("nan")
    value = pyloudnorm.Meter(rate).integrated_loudness(audio)
    return float(value) if np.isfinite(value) else float("nan")


def manifest_hash(manifest: pd.DataFrame) -> str:
    """Content hash of the manifest, independent of Parquet encoding details."""
    hashed = pd.util.hash_pandas_object(manifest, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def write_manifest(manifest: pd.DataFrame, layout: DatasetLayout) -> tuple[Path, Path]:
    """Write the Parquet manifest and the ``.list`` export atomically."""
    layout.manifest_dir.mkdir(parents=True, exist_ok=True)
    parquet_tmp = layout.manifest_path.with_suffix(".parquet.tmp")
    manifest.to_parquet(parquet_tmp, index=False)
    os.replace(parquet_tmp, layout.manifest_path)

    list_tmp = layout.list_path.with_suffix(".list.tmp")
    with open(list_tmp, "w", encoding="utf-8") as handle:
        for row in manifest.itertuples(index=False):
            fields = [row.audio_path, row.speaker, row.language, row.text]
            handle.write(LIST_SEPARATOR.join(_list_field(f) for f in fields) + "\n")
    os.replace(list_tmp, layout.list_path)
    return layout.manifest_path, layout.list_path


def _list_field(value: object) -> str:
    # The .list format has no quoting: a separator or newline inside a field would
    # shift columns, so they become spaces.
    return " ".join(str(value).replace(LIST_SEPARATOR, " ").split())
