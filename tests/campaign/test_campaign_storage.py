"""Publishing campaign audio: a local folder and an S3 protocol server on loopback (moto)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voicemill.campaign.storage import (
    StorageError,
    StorageTarget,
    open_store,
    parse_storage_url,
    require_under_roots,
)

DATA = b"RIFF fake audio bytes \x00\x01\x02" * 100
UNSAFE_KEYS = ["", "../x.wav", "a/../b.wav", "/abs.wav", "a\\b.wav", "a\x00b", "a//b", "./a", "a/"]


# -- URLs ---------------------------------------------------------------------------------


def test_parse_storage_url() -> None:
    s3 = parse_storage_url("s3://voices/campaigns/")
    assert (s3.protocol, s3.bucket, s3.root) == ("s3", "voices", "voices/campaigns")
    local = parse_storage_url("file:///srv/audio/")
    assert (local.protocol, local.root) == ("file", "/srv/audio")
    assert parse_storage_url("/srv/audio").root == "/srv/audio"
    assert parse_storage_url("file://localhost/srv/audio").root == "/srv/audio"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("gs://bucket/x", "storage_url_unsupported"),
        ("https://example.com/x", "storage_url_unsupported"),
        ("memory://x", "storage_url_unsupported"),
        ("relative/dir", "storage_url_invalid"),
        ("file://relative", "storage_url_invalid"),
        ("s3://", "storage_url_invalid"),
    ],
)
def test_bad_storage_urls(url: str, reason: str) -> None:
    with pytest.raises(StorageError) as info:
        parse_storage_url(url)
    assert info.value.reason == reason
    assert url in info.value.detail


def test_target_needs_key_and_secret_together() -> None:
    with pytest.raises(ValueError, match="both key and secret"):
        StorageTarget(url="s3://b", key="k")
    assert "s3cr3t" not in repr(StorageTarget(url="s3://b", key="k", secret="s3cr3t"))


# -- local --------------------------------------------------------------------------------


def test_local_put_get_and_urls(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "out"))
    store.check()
    obj = store.put("camp/alice.wav", DATA, "audio/wav")
    path = tmp_path / "out" / "camp" / "alice.wav"
    assert path.read_bytes() == DATA
    assert obj.url == obj.delivery_url == path.as_uri()
    assert (obj.size, obj.sha256, obj.written) == (
        len(DATA),
        hashlib.sha256(DATA).hexdigest(),
        True,
    )
    assert store.get("camp/alice.wav") == DATA
    assert store.exists("camp/alice.wav") and not store.exists("camp")
    assert store.url_for("camp/bob.wav") == (tmp_path / "out/camp/bob.wav").as_uri()
    with pytest.raises(StorageError) as info:
        store.get("camp/bob.wav")
    assert info.value.reason == "object_missing"


def test_local_put_is_idempotent(tmp_path: Path) -> None:
    store = open_store(StorageTarget(url=(tmp_path / "out").as_uri()))
    store.put("k.wav", DATA, "audio/wav")
    path = tmp_path / "out" / "k.wav"
    os.utime(path, (1_000_000, 1_000_000))
    again = store.put("k.wav", DATA, "audio/wav")
    assert not again.written and again.sha256 == hashlib.sha256(DATA).hexdigest()
    assert path.stat().st_mtime == 1_000_000  # not rewritten
    changed = store.put("k.wav", DATA + b"!", "audio/wav")
    assert changed.written and path.read_bytes() == DATA + b"!"
    assert sorted(p.name for p in path.parent.iterdir()) == ["k.wav"]  # no temp files


_WRITER = """
import sys, time
from pathlib import Path
from voicemill.audio.atomic import locked_temporary
with locked_temporary(Path(sys.argv[1])) as (tmp, handle):
    handle.write(b"half")
    handle.flush()
    print(tmp, flush=True)
    time.sleep(600)
"""


def _writer(target: Path) -> tuple[subprocess.Popen[str], Path]:
    """A real process holding a temporary sibling of ``target`` mid-write."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


@pytest.mark.parametrize("already_there", [False, True])
def test_a_killed_writers_temp_file_is_removed_by_the_next_put(
    tmp_path: Path, already_there: bool
) -> None:
    """A writer SIGKILLed mid-write leaves ``.k.wav.<id>.tmp``; the next put of the key
    (or the one that finds it published) removes it at once, however fresh, but keeps
    the temp file of a writer still alive, and other keys' temp files."""
    store = open_store(str(tmp_path))
    if already_there:
        store.put("k.wav", DATA, "audio/wav")
    killed, stale = _writer(tmp_path / "k.wav")
    live, busy = _writer(tmp_path / "k.wav")
    other_proc, other = _writer(tmp_path / "other.wav")
    try:
        killed.kill()
        killed.wait()
        other_proc.kill()
        other_proc.wait()
        assert stale.exists() and busy.exists()
        store.put("k.wav", DATA, "audio/wav")
        assert not stale.exists(), "the killed writer's temp file was left"
        assert busy.exists(), "a live writer's temp file was removed"
        assert other.exists()
        assert (tmp_path / "k.wav").read_bytes() == DATA
    finally:
        live.kill()
        live.wait()


def test_local_put_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(str(tmp_path))
    store.put("k.wav", DATA, "audio/wav")

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageError) as info:
        store.put("k.wav", b"half-written", "audio/wav")
    assert info.value.reason == "storage_unreachable" and "disk full" in info.value.detail
    assert (tmp_path / "k.wav").read_bytes() == DATA  # the old object is intact
    assert [p.name for p in tmp_path.iterdir()] == ["k.wav"]  # the temp file is gone


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    store = open_store(str(tmp_path / "root"))
    for call in (lambda: store.put(key, DATA), lambda: store.get(key), lambda: store.exists(key)):
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.reason == "unsafe_key"
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").rglob("*"))
    assert not (tmp_path / "x.wav").exists()


def test_local_root_under_a_file_is_unreachable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    store = open_store(str(blocker / "audio"))
    with pytest.raises(StorageError) as info:
        store.check()
    assert info.value.reason == "storage_unreachable"
    assert str(blocker / "audio") in info.value.detail
    with pytest.raises(StorageError) as info:
        store.put("k.wav", DATA)
    assert info.value.reason == "storage_unreachable"


# -- S3 (moto's S3 protocol server on loopback) -------------------------------------------

CREDENTIALS = {"key": "testing", "secret": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 server on 127.0.0.1; AWS env points nowhere real, so nothing leaves the host."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket per test."""
    name = f"voices-{uuid.uuid4().hex[:8]}"
    _client(s3_endpoint).create_bucket(Bucket=name)
    return name


def test_s3_publish_and_read_back(s3_endpoint: str, bucket: str) -> None:
    target = StorageTarget(url=f"s3://{bucket}/campaigns", endpoint_url=s3_endpoint, **CREDENTIALS)
    store = open_store(target)
    store.check()
    obj = store.put("camp/alice.mp3", DATA, "audio/mpeg")
    assert obj.url == obj.delivery_url == f"s3://{bucket}/campaigns/camp/alice.mp3"
    assert obj.written and obj.sha256 == hashlib.sha256(DATA).hexdigest()
    assert store.get("camp/alice.mp3") == DATA
    assert store.exists("camp/alice.mp3") and not store.exists("camp")
    head = _client(s3_endpoint).head_object(Bucket=bucket, Key="campaigns/camp/alice.mp3")
    assert head["ContentType"] == "audio/mpeg"
    assert head["Metadata"] == {"sha256": obj.sha256}
    listed = _client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["campaigns/camp/alice.mp3"]  # the probe is gone
    with pytest.raises(StorageError) as info:
        store.get("camp/bob.mp3")
    assert info.value.reason == "object_missing"


def test_s3_presigned_delivery_url(s3_endpoint: str, bucket: str) -> None:
    target = StorageTarget(url=f"s3://{bucket}", endpoint_url=s3_endpoint, presign_seconds=300)
    obj = open_store(target).put("camp/alice.opus", DATA, "audio/ogg")
    assert obj.url == f"s3://{bucket}/camp/alice.opus"
    assert obj.delivery_url.startswith(f"{s3_endpoint}/{bucket}/camp/alice.opus?")
    assert "X-Amz-Signature=" in obj.delivery_url and "X-Amz-Expires=300" in obj.delivery_url
    with urllib.request.urlopen(obj.delivery_url, timeout=5) as response:
        assert response.read() == DATA


def test_s3_put_is_idempotent(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(StorageTarget(url=f"s3://{bucket}", endpoint_url=s3_endpoint))
    first = store.put("k.wav", DATA, "audio/wav")
    # An object uploaded by someone else (no sha256 metadata) matches by its MD5 ETag.
    _client(s3_endpoint).put_object(
        Bucket=bucket, Key="other.wav", Body=DATA, ContentType="audio/wav"
    )

    def no_write(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("identical bytes must not be uploaded again")

    with monkeypatch.context() as patched:
        patched.setattr(store.fs, "pipe_file", no_write)
        again = store.put("k.wav", DATA, "audio/wav")
        assert store.put("other.wav", DATA, "audio/wav").written is False
    assert again.model_dump(exclude={"written"}) == first.model_dump(exclude={"written"})
    assert (first.written, again.written) == (True, False)
    assert store.put("k.wav", DATA + b"!", "audio/wav").written
    assert store.put("k.wav", DATA + b"!", "audio/x-wav").written  # content type fixed
    assert store.get("k.wav") == DATA + b"!"


def test_s3_unreachable_endpoint_fails_fast() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    target = StorageTarget(url="s3://voices/x", endpoint_url="http://127.0.0.1:9", **CREDENTIALS)
    start = time.monotonic()
    with pytest.raises(StorageError) as info:
        open_store(target).check()
    assert time.monotonic() - start < 10
    assert info.value.reason == "storage_unreachable"
    assert "http://127.0.0.1:9" in info.value.detail and "s3://voices/x" in info.value.detail


def test_s3_missing_bucket_is_unreachable(s3_endpoint: str) -> None:
    store = open_store(StorageTarget(url="s3://no-such-bucket/x", endpoint_url=s3_endpoint))
    with pytest.raises(StorageError) as info:
        store.check()
    assert info.value.reason == "storage_unreachable"
    assert "'no-such-bucket'" in info.value.detail and "does not exist" in info.value.detail
    with pytest.raises(StorageError) as info:
        store.put("k.wav", DATA, "audio/wav")
    assert info.value.reason == "storage_unreachable"


def test_s3_unsafe_keys_are_refused(s3_endpoint: str, bucket: str) -> None:
    store = open_store(StorageTarget(url=f"s3://{bucket}/p", endpoint_url=s3_endpoint))
    for key in UNSAFE_KEYS:
        with pytest.raises(StorageError) as info:
            store.put(key, DATA)
        assert info.value.reason == "unsafe_key"
    assert _client(s3_endpoint).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# -- storage roots: a spec chooses a sub-prefix, never a target of its own ----------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("file:///srv/out", True),
        ("file:///srv/out/spring", True),
        ("/srv/out/a/b", True),
        ("file:///srv/outside", False),  # a sibling sharing the prefix's characters
        ("file:///srv/out/../etc", False),
        ("file:///etc/cron.d", False),
        ("s3://deliveries/campaigns/spring", True),
        ("s3://deliveries/campaigns", True),
        ("s3://deliveries/other", False),
        ("s3://deliveries", False),
        ("s3://attacker-bucket/campaigns", False),
        ("s3://deliveries/campaigns/../other", False),
    ],
)
def test_campaign_urls_must_lie_under_a_configured_root(url: str, allowed: bool) -> None:
    roots = ["file:///srv/out", "s3://deliveries/campaigns"]
    if allowed:
        require_under_roots(url, roots)
        return
    with pytest.raises(StorageError) as info:
        require_under_roots(url, roots)
    assert info.value.reason in ("storage_url_not_allowed", "storage_url_invalid")


def test_a_link_inside_a_root_cannot_lead_out_of_it(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    require_under_roots((root / "spring").as_uri(), [root.as_uri()])
    with pytest.raises(StorageError):
        require_under_roots((root / "escape" / "x").as_uri(), [root.as_uri()])
