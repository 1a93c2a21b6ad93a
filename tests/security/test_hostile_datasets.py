"""Hostile recording folders and audio files: FIFOs, links, devices, oversized or endless
audio, playlists that point at the network, URLs with credentials. Each is set aside with
a reason within bounded time, and the good recordings beside it are registered."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.audio.decode import AudioLimits, open_blocks, probe
from voicemill.audio.errors import AudioError
from voicemill.data.ingest import SourceError, check_source_uri, list_source, redact_uri

RATE = 16_000


def _tone(path: Path, seconds: float = 1.0, rate: int = RATE) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32), rate)
    return path


def _refused(call, *args, **kwargs) -> AudioError:
    started = time.monotonic()
    with pytest.raises(AudioError) as info:
        call(*args, **kwargs)
    assert time.monotonic() - started < 15
    return info.value


def test_a_fifo_is_not_opened_by_the_decoder(tmp_path: Path) -> None:
    fifo = tmp_path / "take.wav"
    os.mkfifo(fifo)  # nobody writes: opening it would block forever
    assert _refused(probe, fifo).reason == "not_a_regular_file"
    assert _refused(open_blocks, fifo).reason == "not_a_regular_file"


def test_size_and_duration_limits(tmp_path: Path) -> None:
    audio = _tone(tmp_path / "long.wav", seconds=3.0)
    small = AudioLimits(max_bytes=1000)
    assert _refused(probe, audio, limits=small).reason == "file_too_large"
    short = AudioLimits(max_duration_s=2.0)
    error = _refused(probe, audio, limits=short)
    assert error.reason == "too_long" and "3 s" in error.detail
    assert probe(audio, limits=AudioLimits(max_duration_s=4.0)).duration_s == pytest.approx(3.0)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_a_playlist_cannot_make_ffmpeg_open_the_network(tmp_path: Path) -> None:
    """An HLS playlist renamed .m4a names a loopback address: with the protocol
    whitelist, ffprobe/ffmpeg never connect to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    connections: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    playlist = tmp_path / "song.m4a"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n"
        f"http://127.0.0.1:{port}/segment.aac\n#EXT-X-ENDLIST\n"
    )
    try:
        error = _refused(probe, playlist)
    finally:
        time.sleep(0.3)
        stop.set()
        thread.join()
        server.close()
    assert error.reason in ("not_audio", "corrupt_audio")
    assert connections == [], "ffprobe connected to an address named by the file"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_a_decode_past_its_limit_is_stopped(tmp_path: Path) -> None:
    wav = _tone(tmp_path / "tone.wav", seconds=30.0)
    aac = tmp_path / "tone.m4a"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-c:a", "aac", str(aac)], check=True
    )
    info, blocks = open_blocks(aac, block_seconds=0.5, limits=AudioLimits(decode_timeout_s=0.2))
    with pytest.raises(AudioError) as caught:
        for _ in blocks:
            time.sleep(0.1)  # a slow consumer: the decode runs past its wall clock
    assert caught.value.reason == "decode_timeout"
    assert sum(len(b) for b in open_blocks(aac)[1]) >= 29 * info.sample_rate  # the default


def test_source_urls_are_checked_before_anything_is_read() -> None:
    for uri in ("http://127.0.0.1:9/recordings", "ftp://example.com/x", "ssh://host/x"):
        with pytest.raises(SourceError) as info:
            check_source_uri(uri)
        assert info.value.reason == "source_protocol_not_allowed"
    with pytest.raises(SourceError) as info:
        check_source_uri("s3://AKIAEXAMPLE:hunter2@bucket/recordings")
    assert info.value.reason == "source_uri_credentials"
    assert "hunter2" not in info.value.detail
    assert redact_uri("s3://key:hunter2@bucket/x") == "s3://***@bucket/x"
    assert check_source_uri("/data/recordings") == "/data/recordings"
    assert check_source_uri("s3://bucket/recordings")
    with pytest.raises(SourceError):
        list_source("http://127.0.0.1:9/recordings")


def _hostile_folder(root: Path, outside: Path) -> None:
    root.mkdir()
    _tone(root / "good.wav")
    (root / "good.txt").write_text("A good take.")
    shutil.copyfile(root / "good.wav", root / "x.wav")  # the same bytes under another name
    os.mkfifo(root / "pipe.wav")
    (root / "passwd.wav").symlink_to("/etc/passwd")
    outside.mkdir()
    _tone(outside / "secret.wav", seconds=1.5)
    (root / "linked").symlink_to(outside, target_is_directory=True)


def test_non_regular_files_are_listed_as_problems_without_being_opened(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    _hostile_folder(root, tmp_path / "elsewhere")
    started = time.monotonic()
    entries, problems = list_source(str(root))
    assert time.monotonic() - started < 10
    assert sorted(e.name for e in entries) == ["good.wav", "x.wav"]
    reasons = {p.name: p.reason for p in problems}
    assert reasons["pipe.wav"] == "not_a_regular_file"
    assert reasons["passwd.wav"] == "not_a_regular_file"
    assert all(not name.startswith("linked/") or reason == "not_a_regular_file"
               for name, reason in reasons.items())  # fmt: skip


def test_a_hostile_folder_is_ingested_with_every_problem_recorded(
    platform_home: Path, tmp_path: Path, dataset_id: str
) -> None:
    from voicemill.data.ingest import ingest_source
    from voicemill.data.layout import DatasetLayout
    from voicemill.db import catalog
    from voicemill.settings import get_settings

    root = tmp_path / "inbox"
    _hostile_folder(root, tmp_path / "elsewhere")
    layout = DatasetLayout(get_settings().data_dir, dataset_id)
    started = time.monotonic()
    with catalog.connect() as conn:
        catalog.upsert_dataset(conn, dataset_id, str(root))
        report = ingest_source(conn, layout, str(root))
        quarantine = {q["item"]: q for q in catalog.quarantined(conn, dataset_id)}
        recordings = catalog.recordings(conn, dataset_id)
    assert time.monotonic() - started < 60
    assert report.registered == ["good.wav"]
    assert report.duplicates == {"x.wav": "good.wav"}
    assert quarantine["x.wav"]["reason"] == "duplicate_content"
    assert "good.wav" in quarantine["x.wav"]["detail"]
    assert quarantine["pipe.wav"]["reason"] == "not_a_regular_file"
    assert quarantine["passwd.wav"]["reason"] == "not_a_regular_file"
    assert [r["source_name"] for r in recordings] == ["good.wav"]  # nothing from outside
