"""The training set of a run: the per-dataset training manifests, concatenated.

Each prepared dataset has one Parquet manifest (``DatasetLayout.manifest_path``,
written by the ``training_manifest`` asset) of accepted utterances; a training run reads
one or several datasets (e.g. an English and a Mandarin speaker) as a single frame in
the columns ``prepare_features`` reads (``utterance_id``, ``audio_path``, ``language``,
``text``, ...), with every other manifest column kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from voicemill.data.layout import DatasetLayout


def load_training_manifests(
    dataset_ids: Sequence[str], data_dir: str | Path | None = None
) -> pd.DataFrame:
    """Rows of the datasets' training manifests, in the given dataset order.

    ``data_dir`` defaults to the platform's (``get_settings().data_dir``). Raises
    ``FileNotFoundError`` for a dataset without a manifest (never prepared, or its run
    failed before the manifest step) and ``ValueError`` for no datasets, a dataset named
    twice, or utterance ids that are not unique across the datasets.
    """
    if isinstance(dataset_ids, str):  # one id would otherwise be read letter by letter
        raise TypeError("dataset_ids must be a sequence of dataset ids, not one string")
    if not dataset_ids:
        raise ValueError("no datasets given")
    if len(set(dataset_ids)) != len(dataset_ids):
        raise ValueError(f"a dataset is named twice in {list(dataset_ids)}")
    if data_dir is None:
        from voicemill.settings import get_settings

        data_dir = get_settings().data_dir
    frames = []
    for dataset_id in dataset_ids:
        path = DatasetLayout(Path(data_dir), dataset_id).manifest_path
        if not path.is_file():
            raise FileNotFoundError(
                f"dataset {dataset_id!r} has no training manifest at {path}; prepare it first"
            )
        frames.append(pd.read_parquet(path))
    manifest = pd.concat(frames, ignore_index=True)
    duplicated = manifest["utterance_id"][manifest["utterance_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"utterance ids repeat across datasets: {sorted(set(duplicated))[:5]}")
    return manifest
