"""Write upstream GPT-SoVITS's Mandarin word lists as our package data.

Upstream's tone sandhi (from PaddleSpeech) reads some words with a neutral last
syllable from a fixed list, exempts others, and treats a word-final 儿 as erhua except
in listed words. Matching upstream's phones needs the same lists; they are facts about
Mandarin words, so we keep them as data (``voicemill/text/data/zh_*.txt``), one word
per line. This reads them from the parity peer's source files with ``ast`` (nothing
is executed) and only needs re-running if upstream changes its lists.

Usage: .venv/bin/python scripts/extract_zh_word_lists.py [.venv/peer]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "voicemill" / "text" / "data"
# (source file, variable or attribute name, output file)
LISTS = (
    ("tone_sandhi.py", "must_neural_tone_words", "zh_neutral_tone_words.txt"),
    ("tone_sandhi.py", "must_not_neural_tone_words", "zh_not_neutral_tone_words.txt"),
    ("chinese2.py", "must_erhua", "zh_erhua_words.txt"),
    ("chinese2.py", "not_erhua", "zh_not_erhua_words.txt"),
)


def set_literal(source: str, name: str) -> set[str]:
    """The set literal assigned to ``name`` (or ``self.name``) in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            target_name = getattr(target, "id", None) or getattr(target, "attr", None)
            if target_name == name:
                return set(ast.literal_eval(node.value))
    raise SystemExit(f"{name} not found")


def main() -> None:
    peer = Path(sys.argv[1] if len(sys.argv) > 1 else ".venv/peer")
    text_dir = peer / "GPT_SoVITS" / "text"
    for source_name, name, out_name in LISTS:
        words = set_literal((text_dir / source_name).read_text(encoding="utf-8"), name)
        (OUT / out_name).write_text("".join(f"{w}\n" for w in sorted(words)), encoding="utf-8")
        print(f"{out_name}: {len(words)} words")


if __name__ == "__main__":
    main()
