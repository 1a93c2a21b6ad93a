"""The single Definitions entry point of the VoiceMill code location.

Loading this module must stay fast: domain code with heavy dependencies
(torch, whisperx, great_expectations) is imported inside asset bodies.
"""

import dagster as dg

from voicemill.assets.campaigns import (
    campaign_audio,
    campaign_durations_fit_texts,
    campaign_failure_rate,
    campaign_loudness_compliance,
    campaign_recipients,
    campaign_report,
)
from voicemill.assets.datasets import (
    aligned_utterances,
    raw_recordings,
    standardized_recordings,
    utterance_segments,
)
from voicemill.assets.manifest import manifest_meets_expectations, training_manifest
from voicemill.assets.regression import (
    champion_regression,
    nightly_regression_job,
    nightly_regression_schedule,
)
from voicemill.assets.release import (
    challenger_earns_champion,
    voice_champion,
    voice_evaluation,
    voice_release,
)
from voicemill.assets.voices import base_model, voice_features, voice_model
from voicemill.orchestration.jobs import (
    deliver_campaign_job,
    prepare_dataset_job,
    pretrain_base_job,
    train_voice_job,
)
from voicemill.orchestration.resources import (
    BaseModelResource,
    CampaignResource,
    DatasetStorage,
    MlflowResource,
    PostgresResource,
    SpeechRecognitionResource,
)
from voicemill.orchestration.sensors import campaign_inbox_sensor, recordings_inbox_sensor

defs = dg.Definitions(
    assets=[
        raw_recordings,
        standardized_recordings,
        utterance_segments,
        aligned_utterances,
        training_manifest,
        base_model,
        voice_features,
        voice_model,
        voice_evaluation,
        voice_release,
        voice_champion,
        champion_regression,
        campaign_recipients,
        campaign_audio,
        campaign_report,
    ],
    asset_checks=[
        manifest_meets_expectations,
        challenger_earns_champion,
        campaign_failure_rate,
        campaign_durations_fit_texts,
        campaign_loudness_compliance,
    ],
    jobs=[
        prepare_dataset_job,
        pretrain_base_job,
        train_voice_job,
        nightly_regression_job,
        deliver_campaign_job,
    ],
    schedules=[nightly_regression_schedule],
    sensors=[recordings_inbox_sensor, campaign_inbox_sensor],
    resources={
        "postgres": PostgresResource(),
        "storage": DatasetStorage(),
        "speech": SpeechRecognitionResource(),
        "mlflow": MlflowResource(),
        "base": BaseModelResource(),
        "campaigns": CampaignResource.from_environment(),
    },
)
