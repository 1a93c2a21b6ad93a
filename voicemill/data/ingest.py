"""Ingestion: register raw recordings from a folder or fsspec URL.

A source is either a folder (local path or any fsspec URL: ``s3://``, ``gcs://``,
``memory://`` ...) holding audio files with optional ``<stem>.txt`` transcripts,
or a GPT-SoVITS ``.list`` file (``path|speaker|lang|text``) whose paths are
resolved relative to the list. fsspec is the storage-URL layer of the
scientific Python stack (pandas and pyarrow use it), so every backend it knows
works here.

Every file is copied into the dataset's content-addressed ``raw/`` store while
its SHA-256 is computed in the same pass (bounded memory), and registered in the
catalog keyed by (dataset, hash): ingesting the same bytes again is a no-op.
Files that cannot be used are quarantined with a reason; nothing is skipped
silently and one bad file never stops the batch.

Sources are hostile until checked. Only the protocols in :data:`SOURCE_PROTOCOLS` are
read (no ``http://``: a launchpad field must not make the platform fetch from any
address its network reaches), and credentials in a URL are refused (they would end up
in run configs, logs and metadata; configure them for the filesystem instead). In a
local folder only regular files inside the folder are read: a FIFO would block the
reader forever, a device or socket is not a recording, and a link could lead out of
the folder; each is quarantined as ``not_a_regular_file`` without being opened.
A file whose bytes another file of the batch already brought is recorded as
``duplicate_content`` naming that file, instead of vanishing into the content store.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import fsspec
import psycopg

from voicemill.audio.atomic import move_into_place
from voicemill.audio.decode import AudioLimits, probe
from voicemill.audio.errors import AudioError
from voicemill.data.layout import DatasetLayout
from voicemill.db import catalog
from voicemill.errors import RejectedInput

AUDIO_SUFFIXES = frozenset(
    {".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff"}
)
TRANSCRIPT_SUFFIX = ".txt"
_CHUNK = 1 << 20
# Where recordings may come from: local folders and object stores (``memory`` is
# fsspec's in-process store, used by tests and notebooks).
SOURCE_PROTOCOLS = frozenset({"file", "local", "s3", "s3a", "gs", "gcs", "az", "abfs", "memory"})


@dataclass(frozen=True)
class SourceEntry:
    """One audio file named by a source, with where its transcript comes from."""

    name: str  # path relative to the source root, posix style
    uri: str
    transcript_uri: str | None = None
    transcript_text: str | None = None  # inline text (``.list`` sources)


@dataclass(frozen=True)
class SourceProblem:
    name: str
    reason: str
    detail: str


@dataclass
class IngestReport:
    registered: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    transcript_updated: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)  # name -> reason
    duplicates: dict[str, str] = field(default_factory=dict)  # name -> the file it repeats
    bytes_copied: int = 0

    @property
    def rejections_by_reason(self) -> dict[str, int]:
        return dict(Counter(self.quarantined.values()))


class TranscriptError(RejectedInput, ValueError):
    """A transcript file that cannot be trusted (not UTF-8, empty)."""


def decode_transcript(raw: bytes, name: str) -> str:
    """Transcript bytes to text; rejects what we cannot trust rather than guessing."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(
            "transcript_not_utf8",
            f"{name} is not valid UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})",
        ) from exc
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if not text:
        raise TranscriptError("transcript_empty", f"{name} holds no text")
    return text


class SourceError(RejectedInput, ValueError):
    """A source URL that will not be read (protocol, credentials in the URL)."""


def check_source_uri(source_uri: str) -> str:
    """``source_uri`` if the platform may read it; ``SourceError`` otherwise, whose detail
    never repeats a password."""
    protocol = (fsspec.core.split_protocol(source_uri)[0] or "file").lower()
    if protocol not in SOURCE_PROTOCOLS:
        raise SourceError(
            "source_protocol_not_allowed",
            f"source {redact_uri(source_uri)!r} uses {protocol}://; allowed: "
            f"{', '.join(sorted(SOURCE_PROTOCOLS))}",
        )
    if "@" in urlsplit(source_uri).netloc:
        raise SourceError(
            "source_uri_credentials",
            f"source {redact_uri(source_uri)!r} carries credentials in its URL; configure "
            "them for the storage (environment, profile) instead",
        )
    return source_uri


def redact_uri(uri: str) -> str:
    """``uri`` with any ``user:password@`` replaced by ``***@``: safe for logs."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def list_source(source_uri: str) -> tuple[list[SourceEntry], list[SourceProblem]]:
    """What a source offers, and the files in it that cannot be ingested."""
    check_source_uri(source_uri)
    if source_uri.endswith(".list"):
        return _list_gpt_sovits_list(source_uri)
    fs, root = fsspec.core.url_to_fs(source_uri)
    if not fs.isdir(root):
        raise FileNotFoundError(f"source {source_uri!r} is not a folder or a .list file")
    root = root.rstrip("/")
    files = sorted(p for p in fs.find(root) if not _hidden(posixpath.relpath(p, root)))
    entries: list[SourceEntry] = []
    problems: list[SourceProblem] = []
    if _is_local(fs):
        files, problems = _regular_files(root, files)
    names = {posixpath.relpath(p, root): p for p in files}
    claimed_transcripts: set[str] = set()
    for name, path in names.items():
        stem, suffix = posixpath.splitext(name)
        if suffix.lower() in AUDIO_SUFFIXES:
            transcript = names.get(stem + TRANSCRIPT_SUFFIX)
            if transcript:
                claimed_transcripts.add(stem + TRANSCRIPT_SUFFIX)
            entries.append(
                SourceEntry(
                    name=name,
                    uri=fs.unstrip_protocol(path),
                    transcript_uri=fs.unstrip_protocol(transcript) if transcript else None,
                )
            )
    for name in names:
        suffix = posixpath.splitext(name)[1].lower()
        if suffix in AUDIO_SUFFIXES or name in claimed_transcripts:
            continue
        if suffix == TRANSCRIPT_SUFFIX:
            problems.append(SourceProblem(name, "orphan_transcript", "no audio with this stem"))
        else:
            problems.append(
                SourceProblem(
                    name,
                    "unsupported_file_type",
                    f"suffix {suffix or '(none)'!r} is not one of {sorted(AUDIO_SUFFIXES)}",
                )
            )
    return entries, problems


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _regular_files(root: str, files: list[str]) -> tuple[list[str], list[SourceProblem]]:
    """Split local paths into regular files inside ``root`` and the rest, each named
    with why, judged by ``lstat`` and ``realpath`` only: nothing is opened."""
    real_root = os.path.realpath(root)
    regular: list[str] = []
    problems: list[SourceProblem] = []
    for path in files:
        name = posixpath.relpath(path, root)
        try:
            mode = os.lstat(path).st_mode
        except OSError as exc:
            problems.append(SourceProblem(name, "unreadable_file", str(exc)))
            continue
        kind = _KINDS.get(stat.S_IFMT(mode))
        if kind is None and not os.path.realpath(path).startswith(real_root + os.sep):
            kind = "inside a linked folder that leads out of the source"
        if kind is not None:
            problems.append(
                SourceProblem(name, "not_a_regular_file", f"{kind}; only regular files are read")
            )
            continue
        regular.append(path)
    return regular, problems


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFDIR: "a folder",
}


def _hidden(relative: str) -> bool:
    # ``_truth/``-style folders and dotfiles belong to tooling, not to the dataset.
    return any(part.startswith((".", "_")) for part in relative.split("/"))


def _list_gpt_sovits_list(list_uri: str) -> tuple[list[SourceEntry], list[SourceProblem]]:
    fs, list_path = fsspec.core.url_to_fs(list_uri)
    root = posixpath.dirname(list_path)
    entries: list[SourceEntry] = []
    problems: list[SourceProblem] = []
    with fs.open(list_path, "rb") as handle:
        raw_lines = handle.read().splitlines()
    for number, raw in enumerate(raw_lines, start=1):
        label = f"line {number}"
        try:
            line = raw.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            problems.append(SourceProblem(label, "transcript_not_utf8", "line is not UTF-8"))
            continue
        if not line:
            continue
        parts = line.split("|", 3)
        if len(parts) != 4:
            problems.append(
                SourceProblem(label, "malformed_list_line", "expected path|speaker|lang|text")
            )
            continue
        path, _speaker, _lang, text = parts
        resolved = posixpath.normpath(posixpath.join(root, path.replace("\\", "/")))
        if not (resolved == root or resolved.startswith(root.rstrip("/") + "/")):
            problems.append(
                SourceProblem(path, "unsafe_path", f"{path!r} points outside the list's folder")
            )
            continue
        if not fs.exists(resolved):
            problems.append(SourceProblem(path, "missing_file", f"{path!r} does not exist"))
            continue
        entries.append(
            SourceEntry(
                name=posixpath.relpath(resolved, root),
                uri=fs.unstrip_protocol(resolved),
                transcript_text=text,
            )
        )
    return entries, problems


def _copy_hashed(uri: str, staging_dir: Path, max_bytes: int) -> tuple[str, int, Path]:
    """Stream a file into ``staging_dir`` while hashing it; ``AudioError("file_too_large")``
    past ``max_bytes`` (checked while copying: a listing's size is the store's word)."""
    digest = hashlib.sha256()
    size = 0
    staging_dir.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir / f".incoming-{uuid.uuid4().hex}"
    try:
        with fsspec.open(uri, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise AudioError(
                        "file_too_large",
                        f"more than {max_bytes} bytes (VOICEMILL_AUDIO_MAX_FILE_MB); not copied",
                    )
                dst.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size, tmp


def _read_transcript(entry: SourceEntry) -> str | None:
    if entry.transcript_text is not None:
        return decode_transcript(entry.transcript_text.encode(), entry.name)
    if entry.transcript_uri is None:
        return None
    with fsspec.open(entry.transcript_uri, "rb") as handle:
        return decode_transcript(handle.read(), posixpath.basename(entry.transcript_uri))


def ingest_source(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    source_uri: str,
    *,
    run_id: str | None = None,
    limits: AudioLimits | None = None,
) -> IngestReport:
    """Register every recording in ``source_uri`` for ``layout.dataset_id``."""
    dataset_id = layout.dataset_id
    report = IngestReport()
    entries, problems = list_source(source_uri)
    for problem in problems:
        catalog.quarantine(
            conn,
            dataset_id=dataset_id,
            stage="ingest",
            item=problem.name,
            reason=problem.reason,
            detail=problem.detail,
            run_id=run_id,
        )
        report.quarantined[problem.name] = problem.reason
    limits = limits or AudioLimits.from_settings()
    for entry in entries:
        _ingest_one(conn, layout, entry, report, run_id, limits)
        conn.commit()
    return report


def _ingest_one(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    entry: SourceEntry,
    report: IngestReport,
    run_id: str | None,
    limits: AudioLimits,
) -> None:
    dataset_id = layout.dataset_id
    try:
        sha, size, tmp = _copy_hashed(entry.uri, layout.base / "raw", limits.max_bytes)
    except AudioError as exc:
        catalog.quarantine(
            conn, dataset_id=dataset_id, stage="ingest", item=entry.name,
            reason=exc.reason, detail=exc.detail, run_id=run_id,
        )  # fmt: skip
        report.quarantined[entry.name] = exc.reason
        return
    except OSError as exc:
        catalog.quarantine(
            conn, dataset_id=dataset_id, stage="ingest", item=entry.name,
            reason="unreadable_file", detail=str(exc), run_id=run_id,
        )  # fmt: skip
        report.quarantined[entry.name] = "unreadable_file"
        return
    stored = layout.raw_path(sha, Path(entry.name).suffix)
    stored.parent.mkdir(parents=True, exist_ok=True)
    if stored.exists():
        tmp.unlink()
    else:
        report.bytes_copied += size
        move_into_place(tmp, stored)
    recording_id = catalog.recording_id_for(dataset_id, sha)

    try:
        transcript = _read_transcript(entry)
        transcript_problem: TranscriptError | None = None
    except TranscriptError as exc:
        transcript, transcript_problem = None, exc

    new = catalog.register_recording(
        conn,
        catalog.NewRecording(
            dataset_id=dataset_id,
            content_sha256=sha,
            source_uri=entry.uri,
            source_name=entry.name,
            size_bytes=size,
            stored_path=str(stored),
            transcript=transcript,
        ),
    )
    if not new:
        original = catalog.recording_source_name(conn, recording_id)
        if original is not None and original != entry.name:
            catalog.quarantine(
                conn, dataset_id=dataset_id, stage="ingest", item=entry.name,
                reason="duplicate_content", detail=f"the same bytes as {original}",
                recording_id=recording_id, run_id=run_id,
            )  # fmt: skip
            report.duplicates[entry.name] = original
            return
        if not catalog.update_recording_transcript(conn, recording_id, entry.name, transcript):
            report.unchanged.append(entry.name)  # same bytes, same transcript: nothing to do
            return
        # A changed transcript gives a quarantined recording another chance.
        catalog.set_recording_status(conn, recording_id, "registered")
        catalog.release_from_quarantine(conn, dataset_id, "transcript", [entry.name])
        report.transcript_updated.append(entry.name)

    if transcript_problem is not None:
        _reject(conn, layout, entry, recording_id, "transcript", transcript_problem, report, run_id)
        return
    try:
        info = probe(stored, limits=limits)
    except AudioError as exc:
        _reject(conn, layout, entry, recording_id, "decode", exc, report, run_id)
        return
    catalog.set_recording_probe(
        conn,
        recording_id,
        container=info.container,
        sample_rate=info.sample_rate,
        channels=info.channels,
        duration_s=info.duration_s,
    )
    if new:
        report.registered.append(entry.name)


def _reject(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    entry: SourceEntry,
    recording_id: str,
    stage: str,
    exc: AudioError | TranscriptError,
    report: IngestReport,
    run_id: str | None,
) -> None:
    catalog.set_recording_status(conn, recording_id, "quarantined")
    catalog.quarantine(
        conn,
        dataset_id=layout.dataset_id,
        stage=stage,
        item=entry.name,
        reason=exc.reason,
        detail=exc.detail,
        recording_id=recording_id,
        run_id=run_id,
    )
    report.quarantined[entry.name] = exc.reason
