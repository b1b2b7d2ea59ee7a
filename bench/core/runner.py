"""The one runner of both benchmarks: CLI, sections in order, the JSON result, the report.

A `Suite` names its sections in run order; each section is a function of the run's
context (the plan, and whatever the suite prepares from it, e.g. loaded models) that
returns a JSON-able dict. A section that raises is reported in place (`FAILED: ...`)
and the others still run; a section that cannot run here returns `{"skipped": why}`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Section", "Suite", "main"]

#: A section's title line and the lines under it, from its result (and every
#: section's result, for comparisons across sections).
Title = Callable[[dict[str, Any]], str]
Body = Callable[[dict[str, Any], dict[str, dict[str, Any]]], list[str]]


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[Any], dict[str, Any]]
    title: Title
    body: Body


@dataclass(frozen=True)
class Suite:
    """One benchmark: `python -m bench.<name>`."""

    name: str
    description: str  # --help
    heading: str  # the report's first words: "ambient-flow <heading> (quick), <date>"
    note: tuple[str, ...]  # lines under the heading: how to read the figures
    sections: tuple[Section, ...]
    plan: Callable[[bool], Any]  # quick -> a frozen dataclass of sizes
    #: Builds what every section is given from the plan and the arguments (default: the plan).
    prepare: Callable[[Any, argparse.Namespace], Any] | None = None
    prepare_label: str = ""  # progress line while `prepare` runs
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    #: Arguments that replace the run (`--setup-peer`): an exit code, or None to run.
    instead: Callable[[argparse.Namespace], int | None] | None = None


def main(suite: Suite, argv: Sequence[str] | None = None) -> int:
    from bench.core.report import render

    args = _parser(suite).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if suite.instead is not None:
        code = suite.instead(args)
        if code is not None:
            return code
    plan = suite.plan(args.quick)
    given = sys.argv[1:] if argv is None else list(argv)
    result: dict[str, Any] = {
        "command": " ".join(["python", "-m", f"bench.{suite.name}", *given]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": _cpu_model(),
        },
        "mode": "quick" if args.quick else "full",
        "plan": dataclasses.asdict(plan),
        "sections": {},
    }
    progress = (lambda _line: None) if args.json else _progress
    t_all = time.monotonic()
    if suite.prepare_label:
        progress(suite.prepare_label)
    context = suite.prepare(plan, args) if suite.prepare is not None else plan
    for section in suite.sections:
        if args.only and section.name not in args.only:
            continue
        progress(section.name)
        t = time.monotonic()
        try:
            out = section.run(context)
        except Exception as exc:  # a broken section is reported; the others still run
            out = {"error": repr(exc), "traceback": traceback.format_exc(limit=8)}
        out["section_s"] = round(time.monotonic() - t, 1)
        result["sections"][section.name] = out
    result["total_s"] = round(time.monotonic() - t_all, 1)
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text)
    print(text if args.json else render(result, suite))
    return 0


def _parser(suite: Suite) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m bench.{suite.name}",
        description=suite.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = [s.name for s in suite.sections]
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the report")
    parser.add_argument("--only", action="append", choices=names, help="run only these sections")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the host's INFO logs")
    if suite.add_arguments is not None:
        suite.add_arguments(parser)
    return parser


def _progress(line: str) -> None:
    print(f"... {line}", file=sys.stderr, flush=True)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: the platform string says enough
        return platform.processor()
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()
