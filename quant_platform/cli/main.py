"""`qp` entry point: each command group registers its own subparser."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Command modules, each exposing `register(subparsers)`. A module that fails to
# import is an error, never a silently missing command.
COMMAND_MODULES = (
    "quant_platform.cli.services_cmd",
    "quant_platform.cli.db_cmd",
    "quant_platform.cli.up_cmd",
    "quant_platform.cli.ingest_cmd",
    "quant_platform.cli.sim_cmd",
    "quant_platform.cli.seed_cmd",
    "quant_platform.cli.alerts_cmd",
    "quant_platform.cli.import_cmd",
    "quant_platform.cli.screen_cmd",
    "quant_platform.cli.backtest_cmd",
    "quant_platform.cli.reports_cmd",
    "quant_platform.cli.worker_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """The `qp` parser with every command group registered.

    Raises:
        ImportError: a command module is missing or broken.
    """
    parser = argparse.ArgumentParser(
        prog="qp", description="quant-platform: real-time stat-arb analytics for Binance USD-M"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from quant_platform.config import SettingsError, get_settings

    try:
        settings = get_settings()
        level = logging.DEBUG if args.verbose else getattr(logging, settings.log_level)
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return int(args.func(args, settings) or 0)
    except SettingsError as err:  # a bad QP_* value: the message, not a traceback
        print(err.message, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
