"""VoiceMill: data and training platform for GPT-SoVITS voice cloning."""
