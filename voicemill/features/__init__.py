"""Frozen feature extractors feeding the GPT-SoVITS v2 models.

SSL (self-supervised speech) features drive the semantic tokenizer; BERT features
condition the text-to-semantic GPT on Mandarin. Model code imports the concrete
modules (``voicemill.features.ssl`` / ``.bert``), which pull in torch; this package
root stays import-light so orchestration code can name it without loading torch.
"""
