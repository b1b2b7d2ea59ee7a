"""What every section of the speech benchmark is given: the plan, the sets, the models.

The models are built from the settings (`backends.registry`) and loaded once, as one
host process shares them; every replay and the live runs use them. The settings are
the host's defaults, changed the way a host's are (`AMBIENT_FLOW_<KNOB>` variables, a
TOML file in `AMBIENT_FLOW_CONFIG`), so a knob is tried without editing code:
`AMBIENT_FLOW_CONTEXT_SECONDS=10 python -m bench.speech --quick` (the live section's
hosts are built with the same changes). What differs from the defaults is said on
stderr and kept in the JSON result of each set.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ambient_flow.config import Settings
from ambient_flow.models.bundle import Models
from bench.enrich.context import Ctx as EnrichCtx
from bench.enrich.context import Plan as EnrichPlan
from bench.enrich.context import offline

__all__ = ["DEFAULT_DATA", "Ctx", "Plan", "changed_settings"]

DEFAULT_DATA = Path(tempfile.gettempdir()) / "af-bench-speech"


@dataclass(frozen=True)
class Plan:
    """Sizes of one run (full: about 25 minutes here; quick: about 6).

    The sets are the research's: dev seed 11 (24 clips), held-out seed 29 (12 clips).
    Quick runs the first clips of each (every kind is in the first 12). The long sets
    (dev seed 41, held-out seed 43, 3 clips each) test talkers who come back.
    """

    dev_seed: int = 11
    dev_count: int = 24
    heldout_seed: int = 29
    heldout_count: int = 12
    dev_run: int = 24  # clips of each set run (the first ones)
    heldout_run: int = 12
    long_dev_seed: int = 41  # long sessions (bench.speech.longset): 4-5 min, 2-4 talkers
    long_heldout_seed: int = 43
    long_count: int = 3  # one clip each of 2, 3 and 4 talkers
    long_run: int = 3  # long clips run per split (quick: the 2-talker one)
    live_levels: tuple[int, ...] = (1, 4)
    ablation: bool = True  # also run every set with speaker-change cuts off

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if not quick:
            return cls()
        return cls(dev_run=12, heldout_run=6, long_run=1, live_levels=(1,), ablation=False)


@dataclass
class Ctx:
    plan: Plan
    data: Path
    settings: Settings
    models: Models
    load_s: float

    @classmethod
    def load(cls, plan: Plan, data: Path) -> Ctx:
        offline()
        scratch = data / "host"
        scratch.mkdir(parents=True, exist_ok=True)
        settings = Settings.load(overrides={"enrich": True, "data_dir": str(scratch)})
        changed = changed_settings(settings)
        if changed:
            said = ", ".join(f"{k}={v!r}" for k, v in changed.items())
            print(f"... settings changed from the defaults: {said}", file=sys.stderr)
        from ambient_flow.backends.registry import build_models

        t = time.perf_counter()
        models = build_models(settings)
        return cls(plan, data, settings, models, time.perf_counter() - t)

    def enrich(self) -> EnrichCtx:
        """bench.enrich's context on these models (its live machinery)."""
        plan = EnrichPlan.of(False)
        return EnrichCtx(plan=plan, wl_venv=Path(), models=self.models, load_s=self.load_s,
                         host_overrides=changed_settings(self.settings))  # fmt: skip


def changed_settings(settings: Settings) -> dict[str, Any]:
    """The knobs `settings` sets differently from the defaults (where the benchmark puts
    its own data and that the enrichment is on aside)."""
    default = Settings()
    return {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(Settings)
        if f.name not in ("data_dir", "enrich")
        and getattr(settings, f.name) != getattr(default, f.name)
    }
