"""What the campaign audit trail stores: one typed row per delivery, and its statuses.

A delivery is one recipient of one campaign. It starts ``pending`` (or ``rejected`` when
its row failed validation), becomes ``published`` once its audio is in storage, or
``failed`` after its retries ran out. Every status change is also an event, so the trail
answers "which model, which settings, which text, when" for every file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DeliveryStatus = Literal["pending", "published", "failed", "rejected"]
FINAL_STATUSES: frozenset[str] = frozenset({"published", "rejected"})


class CampaignRecord(BaseModel):
    """A submitted campaign and the voice pinned for it (set when its partition starts)."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    spec: dict[str, Any]  # CampaignSpec.model_dump(mode="json")
    spec_sha256: str
    recipients_uri: str
    recipients_sha256: str
    voice_profile: str
    use_case: str
    profile_version: int | None = None
    model_name: str | None = None
    model_version: str | None = None  # the champion when the partition first started
    preset: dict[str, Any] | None = None  # the profile's frozen preset, as used
    status: str = "submitted"  # submitted | running | completed | failed
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    failure_reason: str | None = None  # why a failed campaign failed (a stable code)
    failure_detail: str | None = None


class DeliveryRecord(BaseModel):
    """One recipient's delivery: its request, its outcome and where the audio went."""

    model_config = ConfigDict(frozen=True)

    trace_id: str  # uuid4 hex: appears in logs, asset metadata and storage metadata
    campaign_id: str
    recipient_id: str  # printable form (control characters escaped): PostgreSQL text
    row_number: int  # 1-based data row in the recipients file
    template_id: str | None = None
    text: str | None = None  # the rendered text (None for rows rejected before rendering)
    text_sha256: str | None = None
    request_key: str | None = None  # what the synthesis cache is keyed by
    shard: int | None = None
    status: DeliveryStatus
    attempts: int = 0
    error_reason: str | None = None
    error_detail: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    profile_version: int | None = None
    preset: dict[str, Any] | None = None
    seed: int | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    storage_key: str | None = None
    storage_url: str | None = None
    delivery_url: str | None = None
    cache_hit: bool | None = None
    timings: dict[str, float] = Field(default_factory=dict)  # seconds per step
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DurationStats(BaseModel):
    """Seconds of a campaign's published audio (rows whose duration is known)."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    total_s: float = 0.0
    mean_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
