"""Submitting a campaign: validate the spec, keep an immutable copy, record it.

A submitted campaign lives in ``<campaigns root>/<campaign_id>/`` (the spec as given and
the recipients file) and in the ``campaigns`` table with both files' hashes. Submitting
the same files again is a no-op; other files under the same id are refused
(``campaign_exists``): a campaign's content never changes under its partition, so its
deliveries and audit trail always describe one set of inputs.

Submission checks what can be checked without loading the rows (the spec, the
templates' syntax, the recipients header or Parquet footer, every size limit): it runs
in the inbox sensor, which must stay small and quick whatever is dropped. Inbox files
must be regular files in the folder itself: a symbolic link could make the platform
read (and copy into the campaign) any file its account can read.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from voicemill.audio.atomic import move_into_place
from voicemill.campaign.audit import upsert_campaign
from voicemill.campaign.errors import CampaignError
from voicemill.campaign.recipients import RecipientLimits, check_recipients_file
from voicemill.campaign.records import CampaignRecord
from voicemill.campaign.render import compile_templates
from voicemill.campaign.spec import CampaignSpec, SpecLimits, load_campaign_spec
from voicemill.release.records import sha256_file

if TYPE_CHECKING:
    import psycopg

SPEC_NAMES = ("spec.yaml", "spec.yml", "spec.json")
RECIPIENTS_NAMES = ("recipients.csv", "recipients.parquet")


def submit_campaign(
    conn: psycopg.Connection, spec_path: Path, recipients_path: Path, root: Path
) -> tuple[CampaignRecord, CampaignSpec]:
    """Validate and record a campaign; returns its record and parsed spec.

    Raises :class:`CampaignError` for an invalid spec, an unreadable recipients file
    (or one without ``recipient_id``), or an id already used by other content.
    """
    spec = load_campaign_spec(spec_path, SpecLimits.from_settings())
    compile_templates(spec)  # template syntax errors are refused here, before anything runs
    check_recipients_file(recipients_path, RecipientLimits.from_settings())
    folder = root / spec.campaign_id
    recipients_copy = folder / f"recipients{recipients_path.suffix.lower()}"
    record = CampaignRecord(
        campaign_id=spec.campaign_id,
        spec=spec.model_dump(mode="json"),
        spec_sha256=spec.fingerprint,
        recipients_uri=recipients_copy.as_uri(),
        recipients_sha256=sha256_file(recipients_path),
        voice_profile=spec.voice_profile,
        use_case=spec.preset,
    )
    stored = upsert_campaign(conn, record)  # refuses other content before any copy
    folder.mkdir(parents=True, exist_ok=True)
    _copy_atomic(spec_path, folder / f"spec{spec_path.suffix.lower()}")
    _copy_atomic(recipients_path, recipients_copy)
    return stored, spec


def find_campaign_files(folder: Path) -> tuple[Path, Path] | None:
    """(spec, recipients) in an inbox folder, or None until both are there.

    Raises ``CampaignError("inbox_not_regular")`` when the folder or one of the names
    is a symbolic link, FIFO or device rather than a plain folder and files.
    """
    if folder.is_symlink():
        raise CampaignError("inbox_not_regular", f"inbox entry {folder.name!r} is a link")
    spec = _regular(folder, SPEC_NAMES)
    recipients = _regular(folder, RECIPIENTS_NAMES)
    return (spec, recipients) if spec and recipients else None


def _regular(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        path = folder / name
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            kind = "a link" if stat.S_ISLNK(mode) else "not a regular file"
            raise CampaignError(
                "inbox_not_regular", f"{folder.name}/{name} is {kind}; drop the file itself"
            )
        return path
    return None


def recipients_path(record: CampaignRecord) -> Path:
    """The submitted recipients file, checked against the hash recorded at submission."""
    from urllib.parse import unquote, urlsplit

    path = Path(unquote(urlsplit(record.recipients_uri).path))
    if not path.is_file() or sha256_file(path) != record.recipients_sha256:
        raise CampaignError(
            "recipients_changed",
            f"{path} is missing or differs from what campaign {record.campaign_id} was "
            "submitted with; submit the new file under a new campaign id",
        )
    return path


def _copy_atomic(source: Path, target: Path) -> None:
    if source.resolve() == target.resolve():
        return
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        move_into_place(Path(tmp), target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
