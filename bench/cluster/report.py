"""The cluster benchmark's report (plain text; every figure from the run's JSON)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render"]


def render(r: dict[str, Any]) -> str:
    lines = [
        f"ambient-flow cluster benchmark, {r['date']}",
        f"command: {r['command']}",
        f"namespaces: {json.dumps(r.get('namespaces'))}",
        f"{r['clients']} real-time clients (10 audio + 5 video msgs/s each),"
        f" {r['seconds']} s of sending",
    ]
    for name, ph in r["phases"].items():
        lines.append("")
        lines.append(f"[{name}] ({ph.get('phase_s')} s)")
        if "error" in ph:
            lines.append(f"  FAILED: {ph['error']}")
            lines += ["  " + ln for ln in ph.get("traceback", "").splitlines()[-4:]]
            continue
        for k, v in ph.items():
            if k in ("phase_s", "hosts", "logs"):
                continue
            lines.append(f"  {k}: {json.dumps(v, default=str)}")
        for n, tail in (ph.get("logs") or {}).items():
            for ln in tail:
                lines.append(f"  log {n}: {ln}")
    if "interrupted" in r:
        lines.append(f"\nINTERRUPTED: {r['interrupted']}")
    left = r["namespaces_left"] or "none"
    lines.append(f"\nnamespaces left behind: {left}; total {r['total_s']} s")
    return "\n".join(lines)
