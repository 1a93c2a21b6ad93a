"""Which voice answers a request, and the loaded engines that speak them.

A request names a speaker profile (``voice``), optionally its version, and optionally
a model: ``voice-<name>``, ``voice-<name>@<alias>`` or ``voice-<name>:<version>``
(OpenAI's generic names ``tts-1``, ``tts-1-hd`` and ``gpt-4o-mini-tts`` mean "the
profile's model"). Without an alias or version the model's ``champion`` speaks.

:class:`VoiceCatalog` resolves requests to a model version and a verified release (the
files checked against the hashes recorded at release, :mod:`voicemill.release.voice_files`;
the engines themselves live in the worker processes), and keeps a map of the champions
it serves. A background thread re-reads the champions every ``poll_s`` seconds and,
when one moved (``voicemill models promote``/``rollback``), has the workers load and
warm the new version *before* switching the map, so requests keep being answered and
those in flight finish on the version they started with.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from voicemill.api.errors import ApiError
from voicemill.errors import RejectedInput

if TYPE_CHECKING:
    import psycopg
    from mlflow import MlflowClient

    from voicemill.release.profiles import StoredProfile
    from voicemill.release.voice_files import ReleasedVoice

log = logging.getLogger("voicemill.api.voices")

GENERIC_MODELS = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts"})
CHAMPION = "champion"
_MODEL_RE = re.compile(
    r"^(?P<name>voice-[a-z0-9][a-z0-9_-]{0,62})(?:@(?P<alias>[A-Za-z0-9_-]{1,64})|:(?P<version>[1-9][0-9]{0,8}))?$"
)


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``model`` field: a registered model and an alias or a version."""

    name: str | None  # None: the profile's own model
    alias: str | None = None
    version: str | None = None


def parse_model(model: str | None) -> ModelRef:
    """``voice-x``, ``voice-x@alias``, ``voice-x:3``, a generic OpenAI name, or None."""
    if model is None or model in GENERIC_MODELS:
        return ModelRef(None)
    match = _MODEL_RE.match(model)
    if match is None:
        raise ApiError(
            "invalid_model",
            f"model {model[:80]!r} is not voice-<name>, voice-<name>@<alias> or "
            f"voice-<name>:<version> (or one of {sorted(GENERIC_MODELS)})",
        )
    return ModelRef(match["name"], match["alias"], match["version"])


@dataclass(frozen=True)
class ResolvedVoice:
    """Everything a request needs to be spoken: the profile and a verified release."""

    profile: StoredProfile
    model_name: str
    model_version: str
    reference_path: Path


class VoiceCatalog:
    """Loaded engines by model version, and the champions being served."""

    def __init__(
        self,
        *,
        connect: Callable[[], psycopg.Connection],
        client: Callable[[], MlflowClient],
        voices_root: Path,
        poll_s: float = 2.0,
        warm: Callable[[str, str], None] | None = None,
    ) -> None:
        self._connect = connect
        self._client_factory = client
        self._client: MlflowClient | None = None
        self.voices_root = voices_root
        self.poll_s = poll_s
        self._warm = warm  # loads and runs a version in the workers (blocking)
        self._releases: dict[tuple[str, str], ReleasedVoice] = {}
        self._champions: dict[str, str] = {}  # model name -> version being served
        self._hashes: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def set_warmer(self, warm: Callable[[str, str], None]) -> None:
        """What loads a new champion in the workers before it is switched to."""
        self._warm = warm

    # -- registry ---------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _alias(self, name: str, alias: str) -> str | None:
        from voicemill.release.registry import alias_version

        return alias_version(self.client, name, alias)

    def champion(self, name: str) -> str:
        """The champion version being served (read from the registry the first time)."""
        with self._lock:
            version = self._champions.get(name)
        if version is None:
            version = self._alias(name, CHAMPION)
            if version is None:
                raise ApiError(
                    "no_champion",
                    f"{name} has no champion: release one (train_voice) or promote a "
                    f"version (voicemill models promote {name} VERSION)",
                )
            with self._lock:
                self._champions.setdefault(name, version)
        return version

    # -- resolution -------------------------------------------------------------------

    def resolve(
        self, profile_id: str, profile_version: int | None = None, model: str | None = None
    ) -> ResolvedVoice:
        """The profile (latest or given version), its model version and a loaded engine.

        Raises :class:`ApiError`: ``unknown_voice``, ``invalid_model``,
        ``model_voice_mismatch``, ``unknown_model_version``, ``no_champion``,
        ``voice_unavailable``.
        """
        from voicemill.release.profiles import get_profile

        ref = parse_model(model)
        try:
            with self._connect() as conn:
                profile = get_profile(conn, profile_id, profile_version)
        except RejectedInput as exc:
            which = f"version {profile_version} of " if profile_version else ""
            raise ApiError("unknown_voice", f"no {which}voice profile {profile_id!r}") from exc
        if not profile.model_name:
            raise ApiError("no_champion", f"voice {profile_id!r} names no registered model")
        if ref.name is not None and ref.name != profile.model_name:
            raise ApiError(
                "model_voice_mismatch",
                f"voice {profile_id!r} is spoken by {profile.model_name}, not {ref.name}",
            )
        version = self._version(profile.model_name, ref)
        self.release(profile.model_name, version)
        return ResolvedVoice(profile, profile.model_name, version, self._reference(profile))

    def _version(self, name: str, ref: ModelRef) -> str:
        if ref.version is not None:
            from voicemill.release.registry import RegistryError, list_versions

            try:
                known = {v.version for v in list_versions(self.client, name)}
            except RegistryError as exc:
                raise ApiError("unknown_model", exc.detail) from exc
            if ref.version not in known:
                raise ApiError("unknown_model_version", f"{name} has no version {ref.version}")
            return ref.version
        if ref.alias is not None and ref.alias != CHAMPION:
            version = self._alias(name, ref.alias)
            if version is None:
                raise ApiError("unknown_model_version", f"{name} has no alias {ref.alias!r}")
            return version
        return self.champion(name)

    def _reference(self, profile: StoredProfile) -> Path:
        """The profile's reference clip, checked against its recorded hash."""
        path = _local_path(profile.reference_uri)
        if path is None or self._file_sha256(path) != profile.reference_sha256:
            raise ApiError(
                "voice_unavailable",
                f"the reference clip of voice {profile.profile_id!r} v{profile.version} is "
                "missing or not the one recorded",
            )
        return path

    def _file_sha256(self, path: Path) -> str | None:
        """sha256 of a reference clip, re-read only when its size or mtime changes."""
        from voicemill.release.records import sha256_file

        try:
            stat = path.stat()
        except OSError:
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._hashes.get(key)
        if known is None:
            known = sha256_file(path)
            with self._lock:
                self._hashes[key] = known
        return known

    # -- engines ------------------------------------------------------------------------

    def release(self, name: str, version: str) -> ReleasedVoice:
        """The verified release of ``name`` ``version`` (fetched and checked once)."""
        from voicemill.release.voice_files import open_release

        key = (name, version)
        with self._lock:
            if (known := self._releases.get(key)) is not None:
                return known
        try:
            release = open_release(self.client, name, version, self.voices_root)
        except RejectedInput as exc:
            raise ApiError("voice_unavailable", f"{exc.reason}: {exc.detail}") from exc
        with self._lock:
            self._releases[key] = release
        return release

    def served(self, profile_ids: list[str] | None = None) -> list[ResolvedVoice]:
        """The champions of ``profile_ids`` (default: every profile with a model) that
        can be served; the others are logged and left out."""
        from voicemill.release.profiles import list_profiles

        with self._connect() as conn:
            profiles = [p for p in list_profiles(conn) if p.model_name]
        if profile_ids is not None:
            profiles = [p for p in profiles if p.profile_id in set(profile_ids)]
        resolved = []
        for profile in profiles:
            try:
                resolved.append(self.resolve(profile.profile_id))
            except ApiError as exc:
                log.warning(
                    "voice not served", extra={"voice": profile.profile_id, "code": exc.reason}
                )
        return resolved

    # -- champion changes --------------------------------------------------------------

    def start_watching(self) -> None:
        """Re-read the champions every ``poll_s`` seconds in a daemon thread."""
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="champion-watcher", daemon=True
            )
            self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)

    def refresh_champions(self) -> dict[str, tuple[str, str]]:
        """Switch every served model whose champion moved; returns {name: (old, new)}."""
        with self._lock:
            served = dict(self._champions)
        moved = {}
        for name, current in served.items():
            latest = self._alias(name, CHAMPION)
            if latest is None or latest == current:
                continue
            try:
                self.release(name, latest)
                if self._warm is not None:
                    self._warm(name, latest)  # load first: the switch never waits on a load
            except ApiError as exc:
                log.error(
                    "new champion not loadable; still serving the old one",
                    extra={"model": name, "version": latest, "code": exc.reason},
                )
                continue
            with self._lock:
                self._champions[name] = latest
            moved[name] = (current, latest)
            log.info("champion changed", extra={"model": name, "from": current, "to": latest})
        return moved

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.refresh_champions()
            except Exception:  # the registry may be briefly unreachable: try next time
                log.exception("reading the champions failed")


def _local_path(uri: str) -> Path | None:
    """A profile's reference as a local path (``file://`` URIs and plain paths only)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    return None
