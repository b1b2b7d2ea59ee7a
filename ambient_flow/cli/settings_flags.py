"""Every `Settings` field as a CLI flag (`max_gap_fill_seconds` -> `--max-gap-fill-seconds`)."""

from __future__ import annotations

import argparse
from typing import Any

from ambient_flow.config import ENV_PREFIX, Settings

__all__ = ["add_settings_flags", "settings_from_args"]

#: Fields a subcommand sets itself (positional arguments or fixed meanings).
_OWN = {"record", "realtime"}


def add_settings_flags(
    parser: argparse.ArgumentParser,
    *,
    skip: set[str] | None = None,
    only: tuple[str, ...] | None = None,
    config_flag: bool = True,
) -> None:
    skip = _OWN | (skip or set())
    group = parser.add_argument_group(
        "host settings",
        f"each also reads {ENV_PREFIX}<NAME> from the environment and NAME from --config FILE",
    )
    if config_flag:
        group.add_argument("--config", metavar="FILE", help="TOML file with settings")
    for f in Settings.knobs():
        if f.name in skip or (only is not None and f.name not in only):
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default {f.default!r})"
        if f.type == "bool" or f.type is bool:
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            kind = {"int": int, "float": float, "str": str}[str(f.type)]
            group.add_argument(
                flag, dest=f.name, type=kind, default=None, metavar=f.name.upper(), help=help_text
            )


def settings_from_args(args: argparse.Namespace, **fixed: Any) -> Settings:
    """Defaults < --config file < environment < flags < `fixed`."""
    overrides = {f.name: getattr(args, f.name, None) for f in Settings.knobs()}
    overrides.update(fixed)
    return Settings.load(config_file=getattr(args, "config", None), overrides=overrides)
