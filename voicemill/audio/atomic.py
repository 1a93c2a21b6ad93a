"""Write files so that a crash never leaves a half file under the final name.

Everything is written to a hidden unique sibling (same directory, hence same
filesystem) and moved into place with ``os.replace``, which is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

FILE_MODE = 0o640
"""Mode of the files VoiceMill writes (recordings, deliveries, reports, caches): they
hold people's voices and personal data, so owner and group only, whatever the umask."""


def move_into_place(tmp: Path, target: Path) -> None:
    """Give a finished temporary file :data:`FILE_MODE` and rename it to ``target``."""
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, target)


def temporary_sibling(target: Path) -> Path:
    """A hidden, unique name next to ``target``."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def locked_temporary(target: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """A new temporary sibling of ``target``, open for writing and ``flock``-ed while
    the block runs: the lock is how :func:`remove_stale_siblings` tells a live writer
    from one that was killed (the kernel drops a dead process's locks). The caller
    moves the file into place inside the block; on an exception it is removed."""
    tmp = temporary_sibling(target)
    handle = tmp.open("xb")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield tmp, handle
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        handle.close()


def remove_stale_siblings(target: Path) -> int:
    """Delete temporary siblings of ``target`` whose writer is gone: what a writer
    killed mid-write (see :func:`locked_temporary`) leaves behind. A sibling whose lock
    is held belongs to a live writer and is kept, however old. Returns how many were
    removed.

    Not by age: a writer killed a moment before the next attempt leaves a fresh file,
    and a slow live writer an old one."""
    removed = 0
    for candidate in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            with candidate.open("rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer holds it
                candidate.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # its writer finished (renamed it) or another sweeper removed it
    return removed


def write_wav_atomic(path: str | os.PathLike[str], audio: np.ndarray, rate: int) -> None:
    """Write mono float samples as a PCM_16 WAV (clipped to [-1, 1]) atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
        move_into_place(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
