"""The audio core: decode, standardize, measure and segment recordings.

- ``decode``: any common file to float32 blocks, in bounded memory.
- ``loudness``: streaming BS.1770-4 loudness and true peak.
- ``standardize``: the one standardization (files and in-memory clips).
- ``frames``: the per-10 ms sidecar that standardization leaves for later steps.
- ``vad`` / ``segment``: Silero VAD and utterance segmentation with quality gates.
- ``errors``: ``AudioError`` with a machine-readable ``reason``.

Modules are imported explicitly (``from voicemill.audio.standardize import ...``)
so that importing one does not pull in the others' dependencies.
"""
