"""Clean-room PyTorch implementations of the GPT-SoVITS v2 model family.

Each stage lives in its own subpackage and reads/writes the official checkpoints.
"""
