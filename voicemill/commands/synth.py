"""``voicemill synth``: one utterance from checkpoints and a reference clip to a WAV file."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
_LANGUAGES = click.Choice(["auto", "en", "zh", "ja"])


@click.command()
@click.option("--s1", "s1", type=_FILE, required=True, help="GPT (s1) .ckpt checkpoint.")
@click.option("--s2", "s2", type=_FILE, required=True, help="SoVITS (s2) generator .pth.")
@click.option("--ssl", type=_DIR, help="SSL model dir (default: bundled Whisper encoder).")
@click.option("--bert", type=_DIR, help="Chinese BERT dir (default: zero BERT features).")
@click.option("--ref", "ref", type=_FILE, required=True, help="3-10 s reference recording.")
@click.option("--prompt-text", help="Transcript of --ref; omit for reference-free mode.")
@click.option("--prompt-language", type=_LANGUAGES, default="auto", show_default=True)
@click.option("--text", required=True, help="Text to speak.")
@click.option("--language", type=_LANGUAGES, default="auto", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=-1, show_default=True, help="-1 draws one.")
@click.option("--speed", type=float, default=1.0, show_default=True)
@click.option(
    "--max-new-tokens", type=int, default=1500, show_default=True, help="Per segment (25/s)."
)
@click.option("--device", default="cpu", show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "int8"]),
    default="auto",
    show_default=True,
    help="auto: int8 GPT + bf16 decoder on CPUs with bf16 arithmetic, else fp32; "
    "fp32 gives the same audio for a seed on every machine.",
)
def synth(
    s1: Path,
    s2: Path,
    ssl: Path | None,
    bert: Path | None,
    ref: Path,
    prompt_text: str | None,
    prompt_language: str,
    text: str,
    language: str,
    out: Path,
    seed: int,
    speed: float,
    max_new_tokens: int,
    device: str,
    precision: str,
) -> None:
    """Speak TEXT in the voice of REF and write a 32 kHz 16-bit WAV to OUT."""
    import soundfile as sf
    from pydantic import ValidationError

    from voicemill.errors import RejectedInput
    from voicemill.synthesis import InferencePreset, SynthesisEngine

    try:
        preset = InferencePreset(seed=seed, speed=speed, max_new_tokens=max_new_tokens)
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:
        engine = SynthesisEngine.from_paths(
            s1, s2, ssl=ssl, bert=bert, device=device, precision=precision
        )
        voice = engine.prepare_voice(ref, prompt_text, prompt_language)
        result = engine.synthesize(text, voice, preset, language)
    except RejectedInput as exc:
        raise click.ClickException(f"{exc.reason}: {exc.detail}") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, result.audio, result.sample_rate, subtype="PCM_16")
    click.echo(
        f"wrote {out} ({result.duration_s:.2f} s, {len(result.segments)} segments, "
        f"seed {result.seed}, {engine.precision})"
    )
