"""Model adaptation: GPT-SoVITS fine-tuning (lands with the model-family issues)."""
