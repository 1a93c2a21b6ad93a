"""Small JSON records that hand checkpoints and scores from one voice asset to the next.

Each asset writes its record atomically next to the files it describes; the next
asset reads the record instead of guessing paths. Records carry hashes, so a reader
can tell whether the files it finds are the ones the record describes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from voicemill.errors import RejectedInput


class MissingRecord(RejectedInput):
    """An upstream step has not produced its output yet."""


def base_record_path(models_root: Path) -> Path:
    return models_root / "base" / "current.json"


def voice_dir(models_root: Path, dataset_id: str) -> Path:
    return models_root / "voices" / dataset_id


def write_record(path: Path, record: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def read_record(path: Path, produced_by: str) -> dict[str, Any]:
    if not path.is_file():
        raise MissingRecord(
            "missing_upstream", f"{path} not found: materialize {produced_by} first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
