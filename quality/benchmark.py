"""The fixed benchmark prompt set: the yardstick every release decision is measured with.

The set is data (``benchmark_prompts.yaml`` next to this module) validated here at the
edge: unique ids, a fixed seed per prompt, presets that exist, a lexicon that loads, and
every category the release gate relies on present. ``fingerprint`` hashes the prompts,
presets and lexicon together, so scores logged with it are only ever compared with
scores of the same yardstick.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voicemill.synthesis.types import InferencePreset
from voicemill.text.lexicon import Lexicon, load_lexicon

BENCHMARK_FILE = Path(__file__).with_name("benchmark_prompts.yaml")
REQUIRED_CATEGORIES = frozenset(
    {"english", "mandarin", "mixed", "numbers", "domain_terms", "long_paragraph"}
)


class BenchmarkPrompt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    category: str
    language: Literal["en", "zh", "ja", "auto"]
    text: str = Field(min_length=1)
    seed: int = Field(ge=0, description="Fixed: a benchmark never draws a random seed.")
    preset: str

    @field_validator("text")
    @classmethod
    def _single_spaced(cls, text: str) -> str:
        return " ".join(text.split())  # YAML folding leaves line breaks in long prompts


class BenchmarkSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    lexicon: str | None = None  # path relative to the set's file
    presets: dict[str, InferencePreset]
    prompts: list[BenchmarkPrompt] = Field(min_length=1)
    source: Path = BENCHMARK_FILE

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkSet:
        ids = [p.id for p in self.prompts]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate prompt ids: {duplicates}")
        unknown = sorted({p.preset for p in self.prompts} - set(self.presets))
        if unknown:
            raise ValueError(f"prompts name presets that are not defined: {unknown}")
        missing = sorted(REQUIRED_CATEGORIES - {p.category for p in self.prompts})
        if missing:
            raise ValueError(f"the set has no prompt in categories {missing}")
        return self

    def preset_for(self, prompt: BenchmarkPrompt) -> InferencePreset:
        """The prompt's preset with its own seed: the exact synthesis settings to use."""
        return self.presets[prompt.preset].model_copy(update={"seed": prompt.seed})

    def load_lexicon(self) -> Lexicon | None:
        return load_lexicon(self.source.parent / self.lexicon) if self.lexicon else None

    @property
    def fingerprint(self) -> str:
        """sha256 over prompts, presets and lexicon bytes: identifies this yardstick."""
        payload = self.model_dump(mode="json", exclude={"source"})
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode())
        if self.lexicon:
            digest.update((self.source.parent / self.lexicon).read_bytes())
        return digest.hexdigest()


def load_benchmark(path: str | Path = BENCHMARK_FILE) -> BenchmarkSet:
    """Read and validate a benchmark set; errors name the file and the broken field."""
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with version, presets and prompts")
    benchmark = BenchmarkSet.model_validate({**data, "source": path})
    benchmark.load_lexicon()  # a broken lexicon fails here, not in the middle of a gate
    return benchmark
