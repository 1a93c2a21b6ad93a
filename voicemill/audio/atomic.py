"""Write files so that a crash never leaves a half file under the final name.

Everything is written to a hidden unique sibling (same directory, hence same
filesystem) and moved into place with ``os.replace``, which is atomic on POSIX.
"""

from __future__ import annotations

import glob
import os
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf


def temporary_sibling(target: Path) -> Path:
    """A hidden, unique name next to ``target``."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


def remove_stale_siblings(target: Path, started_before: float) -> int:
    """Delete temporary siblings of ``target`` (see :func:`temporary_sibling`) that were
    last written before ``started_before`` (a ``time.time()``): what a writer killed
    mid-write leaves behind. Returns how many were removed."""
    removed = 0
    for candidate in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            if candidate.stat().st_mtime < started_before:
                candidate.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # another writer finished or cleaned it meanwhile
    return removed


def write_wav_atomic(path: str | os.PathLike[str], audio: np.ndarray, rate: int) -> None:
    """Write mono float samples as a PCM_16 WAV (clipped to [-1, 1]) atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
