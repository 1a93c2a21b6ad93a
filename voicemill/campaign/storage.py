"""Publish finished campaign audio to a local folder or an S3-compatible bucket.

**fsspec** is already the project's storage-URL layer (ingestion reads any fsspec URL),
so targets are fsspec URLs: ``file:///srv/audio`` (or a bare absolute path) and
``s3://bucket/prefix`` through **s3fs**, with ``endpoint_url`` for R2, MinIO or a
loopback test server. Only these two schemes are accepted; the URL is split with
fsspec's own parsing (``split_protocol`` and the filesystem's ``_strip_protocol``).

- **Fail fast**: :meth:`Store.check` proves the target is writable before a campaign
  renders anything (local: create the folder and write a probe; S3: ``HeadBucket`` and
  a probe ``PutObject``). botocore gets ``timeout_s`` connect/read timeouts and a
  single attempt (s3fs adds one retry), so a dead endpoint fails in seconds.
- **Atomic**: a local object is written to a hidden sibling and ``os.replace``d into
  place (fsspec's local ``pipe_file`` writes in place); an S3 ``PutObject`` is atomic.
- **Idempotent**: ``put`` first looks at what is there. Locally: same size and same
  SHA-256 of the content. On S3: one ``HeadObject``; same size, same content type
  and the SHA-256 we store as ``x-amz-meta-sha256`` metadata (or, for objects
  written by someone else, an ETag equal to the content MD5, which holds for
  single-part uploads). Then nothing is written and the object is returned as is.
- **Delivery URLs**: with ``presign_seconds``, S3 objects get a presigned GET URL
  (``S3FileSystem.sign``, SigV4); otherwise the delivery URL is the storage URL.

Credentials default to the standard AWS chain (environment, config files, instance
role); ``key``/``secret`` override it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import fsspec
from fsspec.core import split_protocol
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from voicemill.audio.atomic import (
    locked_temporary,
    move_into_place,
    remove_stale_siblings,
    temporary_sibling,
)
from voicemill.errors import RejectedInput

_PROBE_NAME = ".voicemill-write-check"
_MAX_KEY_BYTES = 1024  # the S3 limit
_S3_RETRIES = 2  # s3fs attempts per call (botocore itself makes one)


class StorageError(RejectedInput):
    """A storage target or key cannot be used (``storage_unreachable``, ``unsafe_key``...)."""


class StorageTarget(BaseModel):
    """Where a campaign publishes: an fsspec URL plus S3 connection options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="file:///abs/dir, /abs/dir or s3://bucket[/prefix]")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (R2, MinIO)")
    region: str | None = None
    presign_seconds: int | None = Field(
        None, ge=1, le=7 * 24 * 3600, description="S3 only: presign delivery URLs"
    )
    key: str | None = None
    secret: SecretStr | None = None
    timeout_s: float = Field(3.0, gt=0.0, le=120.0)

    @model_validator(mode="after")
    def _key_and_secret_together(self) -> StorageTarget:
        if (self.key is None) != (self.secret is None):
            raise ValueError("give both key and secret, or neither (AWS credential chain)")
        return self


class StorageLocation(BaseModel):
    """A parsed target URL: ``root`` is an absolute path (file) or ``bucket/prefix`` (s3)."""

    model_config = ConfigDict(frozen=True)

    protocol: Literal["file", "s3"]
    root: str
    bucket: str | None = None


class PublishedObject(BaseModel):
    """One published file and how to reach it."""

    model_config = ConfigDict(frozen=True)

    key: str
    url: str  # file:// or s3:// URL
    delivery_url: str  # presigned https URL, or the same as url
    size: int
    sha256: str
    content_type: str
    written: bool  # False when identical bytes were already there


def parse_storage_url(url: str) -> StorageLocation:
    """Validate a target URL: ``file://``/absolute path or ``s3://bucket[/prefix]``."""
    protocol, given = split_protocol(url)
    protocol = (protocol or "file").lower()
    if protocol not in ("file", "s3"):
        raise StorageError(
            "storage_url_unsupported",
            f"storage URL {url!r} uses {protocol}://; only file:// and s3:// are supported",
        )
    if protocol == "file":
        if given.startswith("localhost/"):  # file://localhost/dir (RFC 8089)
            given = given.removeprefix("localhost")
        # _strip_protocol makes relative paths absolute against the working directory,
        # which differs between processes: insist on an absolute path up front.
        if not given.startswith("/"):
            raise StorageError(
                "storage_url_invalid", f"local storage path {url!r} must be absolute"
            )
    root = fsspec.get_filesystem_class(protocol)._strip_protocol(given).rstrip("/")
    if protocol == "file":
        return StorageLocation(protocol="file", root=root or "/")
    bucket = root.split("/", 1)[0]
    if not bucket:
        raise StorageError("storage_url_invalid", f"storage URL {url!r} names no bucket")
    return StorageLocation(protocol="s3", root=root, bucket=bucket)


def require_under_roots(url: str, roots: Sequence[str]) -> None:
    """Refuse a campaign's ``url`` unless it is one of ``roots`` or under one.

    A spec comes from whoever can write the inbox, while the platform publishes with
    its own credentials: without this, a spec alone could write into any folder the
    service account can write, or any bucket its keys reach (a confused deputy). The
    operator configures the roots; a spec may only choose a sub-prefix. Paths are
    compared after normalization (``..`` and, for local paths, symbolic links resolved).
    Raises ``StorageError("storage_url_not_allowed")``.
    """
    wanted = _comparable(parse_storage_url(url))
    for root in roots:
        allowed = _comparable(parse_storage_url(root))
        if wanted[0] == allowed[0] and (
            wanted[1] == allowed[1] or wanted[1].startswith(allowed[1].rstrip("/") + "/")
        ):
            return
    raise StorageError(
        "storage_url_not_allowed",
        f"storage URL {url!r} is not under a configured storage root "
        f"({', '.join(roots) or 'none'}); a campaign may choose a sub-prefix of one",
    )


def _comparable(location: StorageLocation) -> tuple[str, str]:
    if location.protocol == "file":
        return "file", os.path.realpath(location.root)
    parts = location.root.split("/")
    if any(part in ("..", ".") for part in parts):
        raise StorageError("storage_url_invalid", f"s3://{location.root} has '.' or '..' parts")
    return "s3", "/".join(part for part in parts if part)


def open_store(target: StorageTarget | str) -> Store:
    """A :class:`Store` for ``target`` (a URL string means default options)."""
    if isinstance(target, str):
        target = StorageTarget(url=target)
    return Store(target, parse_storage_url(target.url))


class Store:
    """Publish, read and address objects under one storage target."""

    def __init__(self, target: StorageTarget, location: StorageLocation) -> None:
        self.target = target
        self.location = location
        self.fs: Any = (
            _s3_filesystem(target) if location.protocol == "s3" else fsspec.filesystem("file")
        )

    def __repr__(self) -> str:
        return f"Store({self._where()})"

    def check(self) -> None:
        """Raise ``StorageError("storage_unreachable")`` unless the target is writable."""
        if self.location.protocol == "file":
            root = Path(self.location.root)
            try:
                root.mkdir(parents=True, exist_ok=True)
                probe = temporary_sibling(root / _PROBE_NAME)
                probe.write_bytes(b"ok")
                probe.unlink()
            except OSError as err:
                raise self._unreachable("cannot write", err) from err
            return
        bucket = self.location.bucket
        # Any failure here means "not usable": botocore and aiohttp raise many types
        # (connection, timeout, credentials, invalid endpoint), all worth a clear report.
        try:
            self.fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError as err:
            raise StorageError(
                "storage_unreachable", f"bucket {bucket!r} does not exist ({self._where()})"
            ) from err
        except Exception as err:
            raise self._unreachable(f"cannot reach bucket {bucket!r}", err) from err
        probe = f"{self.location.root}/{_PROBE_NAME}"
        try:
            self.fs.pipe_file(probe, b"ok")
        except Exception as err:
            raise self._unreachable(f"cannot write to bucket {bucket!r}", err) from err
        with contextlib.suppress(Exception):  # a put-only credential may not delete
            self.fs.rm_file(probe)

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> PublishedObject:
        """Publish ``data`` under ``key`` atomically; identical existing bytes are kept."""
        path = self._path(key)
        digest = hashlib.sha256(data).hexdigest()
        try:
            if self.location.protocol == "file":
                written = _put_local(Path(path), data, digest)
            else:
                written = self._put_s3(path, data, digest, content_type)
        except (OSError, *_s3_errors()) as err:
            raise self._unreachable(f"cannot publish {key!r}", err) from err
        return PublishedObject(
            key=key,
            url=self.url_for(key),
            delivery_url=self.delivery_url_for(key),
            size=len(data),
            sha256=digest,
            content_type=content_type,
            written=written,
        )

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` exactly (not as a prefix)."""
        path = self._path(key)
        if self.location.protocol == "file":
            return Path(path).is_file()
        try:
            return self._head(path) is not None
        except (OSError, *_s3_errors()) as err:
            raise self._unreachable(f"cannot look up {key!r}", err) from err

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key`` (``StorageError("object_missing")`` if none)."""
        path = self._path(key)
        try:
            return self.fs.cat_file(path)
        except (FileNotFoundError, IsADirectoryError) as err:
            raise StorageError("object_missing", f"no object {key!r} in {self._where()}") from err
        except (OSError, *_s3_errors()) as err:
            raise self._unreachable(f"cannot read {key!r}", err) from err

    def url_for(self, key: str) -> str:
        """The storage URL of ``key``: ``file:///...`` or ``s3://bucket/...``."""
        path = self._path(key)
        if self.location.protocol == "file":
            return Path(path).as_uri()
        return f"s3://{path}"

    def delivery_url_for(self, key: str) -> str:
        """A presigned HTTPS URL when ``presign_seconds`` is set on S3, else :meth:`url_for`."""
        if self.location.protocol == "s3" and self.target.presign_seconds:
            return self.fs.sign(self._path(key), expiration=self.target.presign_seconds)
        return self.url_for(key)

    def _path(self, key: str) -> str:
        _check_key(key)
        return f"{self.location.root.rstrip('/')}/{key}"

    def _head(self, path: str) -> dict[str, Any] | None:
        bucket, _, key = path.partition("/")
        try:
            return self.fs.call_s3("head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None

    def _put_s3(self, path: str, data: bytes, digest: str, content_type: str) -> bool:
        head = self._head(path)
        if head is not None and _same_s3_object(head, data, digest, content_type):
            return False
        self.fs.pipe_file(path, data, ContentType=content_type, Metadata={"sha256": digest})
        return True

    def _where(self) -> str:
        if self.target.endpoint_url:
            return f"{self.target.url} at {self.target.endpoint_url}"
        return self.target.url

    def _unreachable(self, what: str, err: BaseException) -> StorageError:
        return StorageError(
            "storage_unreachable", f"{what} in {self._where()}: {type(err).__name__}: {err}"
        )


def _check_key(key: str) -> None:
    problem = None
    if not isinstance(key, str) or not key:
        problem = "is empty"
    elif key.startswith("/"):
        problem = "starts with '/'"
    elif "\\" in key:
        problem = "contains a backslash"
    elif any(ord(ch) < 0x20 or ch == "\x7f" for ch in key):
        problem = "contains a control character"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        problem = "has an empty, '.' or '..' path segment"
    elif len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        problem = f"is longer than {_MAX_KEY_BYTES} bytes"
    if problem:
        raise StorageError("unsafe_key", f"object key {key!r} {problem}")


def _put_local(path: Path, data: bytes, digest: str) -> bool:
    # A writer killed mid-write (a crashed delivery, later retried) leaves its temporary
    # file; whoever writes the key next removes the ones no live writer holds.
    if (
        path.is_file()
        and path.stat().st_size == len(data)
        and hashlib.sha256(path.read_bytes()).hexdigest() == digest
    ):
        remove_stale_siblings(path)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        try:
            with locked_temporary(path) as (tmp, handle):
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                move_into_place(tmp, path)
            break
        except FileNotFoundError:
            # A sweeper took the file between its creation and its lock: write again.
            if attempt == 2:
                raise
    remove_stale_siblings(path)
    return True


def _same_s3_object(head: dict[str, Any], data: bytes, digest: str, content_type: str) -> bool:
    if head.get("ContentLength") != len(data) or head.get("ContentType") != content_type:
        return False
    stored = (head.get("Metadata") or {}).get("sha256")
    if stored is not None:
        return stored == digest
    etag = str(head.get("ETag", "")).strip('"')
    return etag == hashlib.md5(data, usedforsecurity=False).hexdigest()


def _s3_filesystem(target: StorageTarget) -> Any:
    import s3fs  # imported only for S3 targets: it pulls in aiobotocore

    config: dict[str, Any] = {
        "connect_timeout": target.timeout_s,
        "read_timeout": target.timeout_s,
        "retries": {"max_attempts": 1},
        "signature_version": "s3v4",
    }
    if target.endpoint_url:
        # Path-style requests work on every S3-compatible server (MinIO, IP endpoints).
        config["s3"] = {"addressing_style": "path"}
    fs = s3fs.S3FileSystem(
        key=target.key,
        secret=target.secret.get_secret_value() if target.secret else None,
        endpoint_url=target.endpoint_url,
        client_kwargs={"region_name": target.region} if target.region else None,
        config_kwargs=config,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    fs.retries = _S3_RETRIES
    return fs


def _s3_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - botocore comes with s3fs
        return (TimeoutError,)
    return (BotoCoreError, ClientError, TimeoutError)
