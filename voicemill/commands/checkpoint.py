"""``voicemill checkpoint``: create fresh model files and check files users bring.

``inspect`` exits 0 when the file matches a preset's layout exactly, 1 when tensors are
missing, unexpected or mis-shaped, and 2 when the file cannot be read or is unsupported.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from voicemill.model.errors import CheckpointError

MAX_LISTED = 20  # per category: a foreign-version file can differ in hundreds of tensors


@click.group("checkpoint")
def checkpoint() -> None:
    """Create and inspect GPT-SoVITS model files (s1 .ckpt, s2G/s2D .pth, resume G/D)."""


@checkpoint.command("init")
@click.option("--version", "version", type=click.Choice(["v2"]), default="v2", show_default=True)
@click.option("--preset", type=click.Choice(["v2", "tiny"]), default="v2", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
def init(version: str, preset: str, out: Path, seed: int) -> None:
    """Write randomly initialised s1, s2G and s2D files in the official formats.

    Names: s1v2-<preset>.ckpt, s2G-v2-<preset>.pth, s2D-v2-<preset>.pth. The tiny s1 and
    s2 share a 64-code semantic vocabulary; the tiny s2D is the narrow v2-period one.
    Only v2 models are implemented; --version is there so scripts state what they expect.
    """
    from voicemill.model.files import Preset, write_initial

    for part, path in write_initial(out, cast(Preset, preset), seed).items():
        click.echo(f"{part}\t{path}")


@checkpoint.command("inspect")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect(path: Path) -> None:
    """Report a model file's part, version, preset and how it differs from that layout."""
    from voicemill.model.files import detect
    from voicemill.model.layout import fit_preset

    try:
        file = detect(path)
        click.echo(f"part: {file.part}\nversion: {file.version}")
        preset, diff = fit_preset(file)
    except CheckpointError as exc:
        click.echo(f"error: {exc.reason}: {exc.detail}", err=True)
        raise SystemExit(2) from exc
    click.echo(f"preset: {preset} ({'matches' if diff.matches else 'closest'})")
    click.echo(f"tensors: {file.tensor_count}\nparameters: {file.parameter_count:,}")
    click.echo(f"dtypes: {', '.join(file.dtypes)}")
    _list("missing", diff.missing)
    _list("unexpected", diff.unexpected)
    _list("mis-shaped", [f"{n} expected {list(e)} found {list(f)}" for n, e, f in diff.misshaped])
    if not diff.matches:
        raise SystemExit(1)


def _list(title: str, items: list[str]) -> None:
    click.echo(f"{title}: {len(items)}")
    for item in items[:MAX_LISTED]:
        click.echo(f"  {item}")
    if len(items) > MAX_LISTED:
        click.echo(f"  … and {len(items) - MAX_LISTED} more")
