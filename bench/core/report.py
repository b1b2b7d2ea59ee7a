"""The readable report's frame and number formats (the JSON has every raw figure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.core.runner import Suite

__all__ = ["fmt", "percent", "render"]


def fmt(x: Any, unit: str = "") -> str:
    """A figure as printed: 3 decimals under 1, 2 under 100, then whole with separators."""
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if abs(x) < 1:
            return f"{x:,.3f}{unit}"
        return f"{x:,.2f}{unit}" if abs(x) < 100 else f"{x:,.0f}{unit}"
    return f"{x}{unit}"


def percent(x: Any) -> str:
    """A fraction as a percentage (WER, DER)."""
    return "n/a" if x is None else f"{100 * x:.1f} %"


def render(result: dict[str, Any], suite: Suite) -> str:
    """Heading, one block per section that ran (title, then its lines or why it has none),
    and the time each section took."""
    m = result["machine"]
    lines = [
        f"ambient-flow {suite.heading} ({result['mode']}), {result['date']}",
        f"command: {result['command']}",
        f"machine: {m['cpus']} CPUs ({m['processor']}), {m['platform']}, Python {m['python']}",
        *suite.note,
        "",
    ]
    done = result["sections"]
    for section in suite.sections:
        sec = done.get(section.name)
        if sec is None:
            continue
        lines.append(section.title(sec))
        if "error" in sec:
            lines.append(f"  FAILED: {sec['error']}")
            lines += ["    " + ln for ln in sec.get("traceback", "").splitlines()[-4:]]
        elif "skipped" in sec:
            lines.append(f"  skipped: {sec['skipped']}")
        else:
            lines += section.body(sec, done)
        lines.append("")
    lines.append(
        f"total {result['total_s']} s; per section: "
        + ", ".join(f"{k} {v.get('section_s')} s" for k, v in done.items())
    )
    return "\n".join(lines)
