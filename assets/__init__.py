"""Dagster assets: thin wrappers that run one ``voicemill.data`` stage each."""
