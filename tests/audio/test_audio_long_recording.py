"""A 2-hour recording is standardized in bounded memory (peak RSS measured in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

HOURS = 2.0
RATE = 16000

_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from voicemill.audio.standardize import standardize_file

    def peak_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    before = peak_mib()
    src, out = sys.argv[1], sys.argv[2]
    m = standardize_file(src, out + "/m.wav", out + "/s.wav", out + "/f.npz")
    print(json.dumps({"before": before, "after": peak_mib(), "m": m.model_dump()}))
    """
)


@pytest.mark.slow
def test_two_hours_standardize_in_bounded_memory(tmp_path: Path, speech: np.ndarray) -> None:
    # One minute of speech-and-silence pattern, written 120 times: 2 h of PCM_16 on disk.
    utterance = soxr.resample(speech, 22050, RATE).astype(np.float32)
    minute = np.zeros(RATE * 60, dtype=np.float32)
    for start in range(0, minute.size - utterance.size, utterance.size + RATE):
        minute[start : start + utterance.size] = 0.3 * utterance
    src = tmp_path / "long.wav"
    with sf.SoundFile(src, "w", RATE, 1, subtype="PCM_16") as fh:
        for _ in range(int(HOURS * 60)):
            fh.write(minute)
    total_frames = int(HOURS * 3600 * RATE)
    assert sf.info(src).frames == total_frames

    out = tmp_path / "out"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(src), str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        model_frames, ssl_frames = sf.info(out / "m.wav").frames, sf.info(out / "s.wav").frames
    finally:  # ~900 MB of WAVs: do not leave them in pytest's kept temp folders
        for big in (src, out / "m.wav", out / "s.wav"):
            big.unlink(missing_ok=True)

    # Loading the source alone as float32 would need 440 MiB; the 32 kHz signal, 880 MiB.
    whole_file_mib = total_frames * 4 / 2**20
    growth = result["after"] - result["before"]
    assert growth < 150, f"peak RSS grew by {growth:.0f} MiB"
    assert growth < whole_file_mib / 3
    m = result["m"]
    assert m["duration_s"] == pytest.approx(HOURS * 3600)
    assert m["output_lufs"] == pytest.approx(-20.0, abs=0.5)
    assert model_frames == pytest.approx(HOURS * 3600 * 32000, abs=2)
    assert ssl_frames == pytest.approx(total_frames, abs=2)
