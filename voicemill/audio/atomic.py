"""Write files so that a crash never leaves a half file under the final name.

Everything is written to a hidden unique sibling (same directory, hence same
filesystem) and moved into place with ``os.replace``, which is atomic on POSIX.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf


def temporary_sibling(target: Path) -> Path:
    """A hidden, unique name next to ``target``."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


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
