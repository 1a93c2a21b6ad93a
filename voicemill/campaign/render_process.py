"""Render recipients' texts in a child process with real memory and time limits.

The Jinja sandbox (:mod:`.render`) stops code execution and bounds what it can see
(repetition, ``range``, format widths, emitted characters), but a template is a
program: ``(['x' * 1000] * 1000) | join | replace('x', 'xx') ...``, doubling with
``~``, nested loops or macro recursion can still allocate gigabytes or spin, and no
per-operation check catches every way. So rendering runs where it cannot hurt the
run that asked for it: a child Python process (``python -m
voicemill.campaign.render_process``) under ``RLIMIT_AS`` (its address space, so a
runaway allocation raises ``MemoryError`` inside the child), answered row by row over
pipes with a CPU-time budget per row (and ten times that in wall-clock time as a
backstop: a busy machine does not fail rows, a stuck child still ends). A row that
times out or kills the child is rejected with ``render_timeout``, ``render_crashed``
or ``render_memory``; the child is restarted and the next row goes on.

The child also checks the spec's typed variables (:mod:`.variables`: a declared
``pattern`` is a regular expression from an inbox drop) and speaks their values.

The protocol is one JSON object per line. The first line to a new child carries the
spec's templates; then one request per row, one answer per row. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from voicemill.campaign.errors import CampaignError

if TYPE_CHECKING:
    from voicemill.campaign.spec import CampaignSpec
    from voicemill.settings import Settings

__all__ = ["RenderLimits", "RenderProcess", "RenderedText"]

_START_TIMEOUT_S = 60.0  # a cold child imports jinja2, pydantic and the normalizers
_FRESH_START_AFTER = frozenset({"render_memory", "template_too_complex"})
_WALL_FACTOR = 10.0  # wall clock per row, in row budgets, whatever the CPU use


@dataclass(frozen=True)
class RenderLimits:
    """Per-row wall clock and the child's address-space limit."""

    timeout_s: float = 2.0
    memory_mb: int = 1024

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RenderLimits:
        from voicemill.settings import get_settings

        settings = settings or get_settings()
        return cls(
            timeout_s=settings.campaign_render_timeout_s,
            memory_mb=settings.campaign_render_memory_mb,
        )


@dataclass(frozen=True)
class RenderedText:
    """A row's rendered text (NFC, whitespace-collapsed)."""

    text: str


class RenderProcess:
    """A long-lived child that renders rows of one spec; restarted after a bad row.

    Use as a context manager; :meth:`render` returns :class:`RenderedText` or raises
    :class:`CampaignError` with the row's reason.
    """

    def __init__(self, spec: CampaignSpec, limits: RenderLimits | None = None) -> None:
        self._setup = json.dumps(
            {
                "templates": {t.id: t.text for t in spec.templates},
                "language": spec.language,
                "variables": {n: v.model_dump(mode="json") for n, v in spec.variables.items()},
            }
        )
        self.limits = limits or RenderLimits()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.restarts = 0

    def __enter__(self) -> RenderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def render(self, template_id: str, variables: Mapping[str, str]) -> RenderedText:
        """Render one row; raises ``CampaignError`` with the row's reason."""
        request = json.dumps({"template": template_id, "variables": dict(variables)})
        answer = self._ask(request.encode("utf-8", "surrogatepass") + b"\n")
        if answer.get("ok"):
            return RenderedText(text=answer["text"])
        raise CampaignError(str(answer["reason"]), str(answer["detail"]))

    # -- the child ---------------------------------------------------------------------

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicemill.campaign.render_process", str(self.limits.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        self._proc, self._buffer = proc, b""
        assert proc.stdin is not None
        try:
            proc.stdin.write(self._setup.encode() + b"\n")
            proc.stdin.flush()
            ready = self._read_line(proc, _START_TIMEOUT_S)
        except (BrokenPipeError, TimeoutError) as exc:
            self.close()
            raise CampaignError(
                "render_unavailable", f"the template renderer did not start: {exc}"
            ) from exc
        if ready is None or not json.loads(ready).get("ready"):
            self.close()
            raise CampaignError("render_unavailable", "the template renderer did not start")
        return proc

    def _ask(self, line: bytes) -> dict[str, Any]:
        proc = self._proc if self._proc is not None and self._proc.poll() is None else None
        if proc is None:
            self.close()
            proc = self._start()
        assert proc.stdin is not None
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
            answer = self._read_line(proc, self.limits.timeout_s, cpu_bound=True)
        except TimeoutError:
            self._restart()
            raise CampaignError(
                "render_timeout",
                f"rendering took longer than {self.limits.timeout_s:g} s and was stopped",
            ) from None
        except BrokenPipeError:
            answer = None
        if answer is None:  # the child died: killed by the kernel, or an abort
            self._restart()
            raise CampaignError(
                "render_crashed",
                f"the renderer stopped while rendering this row (memory limit "
                f"{self.limits.memory_mb} MB)",
            )
        result: dict[str, Any] = json.loads(answer)
        if result.get("restart"):  # MemoryError: the child's heap may be fragmented
            self._restart()
        return result

    def _restart(self) -> None:
        self.close()
        self.restarts += 1

    def _read_line(
        self, proc: subprocess.Popen[bytes], timeout_s: float, cpu_bound: bool = False
    ) -> bytes | None:
        """One line from the child, None at EOF; ``TimeoutError`` past ``timeout_s``.

        With ``cpu_bound``, ``timeout_s`` is a budget of the child's CPU time, checked
        each time the wall clock runs out: on a busy machine a row is not charged for
        the time the child waited for a core. :data:`_WALL_FACTOR` times the budget in
        wall-clock time ends it whatever its CPU use (a child blocked, not computing).
        """
        stdout: IO[bytes] = proc.stdout  # type: ignore[assignment]
        started = time.monotonic()
        cpu_start = _cpu_seconds(proc.pid) if cpu_bound else None
        deadline = started + timeout_s
        while b"\n" not in self._buffer:
            now = time.monotonic()
            left = deadline - now
            if left <= 0 and cpu_start is not None and now - started < timeout_s * _WALL_FACTOR:
                cpu = _cpu_seconds(proc.pid)
                if cpu is not None and cpu - cpu_start < timeout_s:
                    deadline = now + max(timeout_s - (cpu - cpu_start), 0.05)
                    continue
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout_s:g} s")
            readable, _, _ = select.select([stdout], [], [], left)
            if not readable:
                continue
            chunk = os.read(stdout.fileno(), 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux ``/proc``); None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _serve(memory_mb: int) -> None:
    """The child's loop: limits first, then imports, then one answer per request."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.setrecursionlimit(2000)

    from voicemill.campaign.render import compile_template, render_text
    from voicemill.campaign.variables import VariableSpec, check_markup, spoken_value

    out = sys.stdout.buffer
    setup = json.loads(sys.stdin.buffer.readline())
    language = setup["language"]
    declared = {n: VariableSpec.model_validate(v) for n, v in setup["variables"].items()}
    templates = {tid: compile_template(text, tid) for tid, text in setup["templates"].items()}
    # Warm what the first typed row would import (num2words), under the start timeout.
    for kind in ("integer", "date"):
        spoken_value(
            "warm_up", "2026-01-02" if kind == "date" else "12", VariableSpec(type=kind), language
        )
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        answer: dict[str, Any]
        try:
            request = json.loads(line)
            values: dict[str, str] = request["variables"]
            for name, value in values.items():
                check_markup(name, value)
            for name, declared_spec in declared.items():  # typed values, spoken
                spoken = spoken_value(name, values.get(name), declared_spec, language)
                if spoken is None:
                    values.pop(name, None)
                else:
                    values[name] = spoken
            answer = {"ok": True, "text": render_text(templates[request["template"]], values)}
        except CampaignError as exc:
            answer = {"ok": False, "reason": exc.reason, "detail": exc.detail}
            if exc.reason in _FRESH_START_AFTER:  # the heap or stack may be left ragged
                answer["restart"] = True
        except MemoryError:
            answer = {
                "ok": False,
                "reason": "render_memory",
                "detail": f"rendering needed more than the renderer's {memory_mb} MB",
                "restart": True,
            }
        except RecursionError:
            answer = {
                "ok": False,
                "reason": "template_too_complex",
                "detail": "rendering recursed too deeply",
                "restart": True,
            }
        out.write(json.dumps(answer, ensure_ascii=True).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
