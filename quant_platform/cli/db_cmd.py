"""`qp db migrate|version`: the schema, idempotently."""

from __future__ import annotations

import argparse
import sys

import psycopg

from quant_platform.config import Settings
from quant_platform.storage.migrate import current_version, migrate


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        applied = migrate(settings.database_url)
    except psycopg.OperationalError as exc:
        print(f"db: cannot reach QP_DATABASE_URL: {exc}", file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    print(f"schema version {current_version(settings.database_url)}")
    return 0


def _version(args: argparse.Namespace, settings: Settings) -> int:
    print(current_version(settings.database_url))
    return 0


def _ensure(args: argparse.Namespace, settings: Settings) -> int:
    """Create a database beside QP_DATABASE_URL's (e.g. Dagster's own) if it is missing."""
    from quant_platform.services.local import ensure_database

    base = settings.database_url.rsplit("/", 1)[0]
    created = ensure_database(f"{base}/postgres", args.name)
    print(
        f"{'created database' if created else 'database'} {args.name}{'' if created else ' exists'}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="action", required=True)
    dsub.add_parser("migrate", help="apply pending migrations").set_defaults(func=_migrate)
    dsub.add_parser("version", help="print the schema version").set_defaults(func=_version)
    ens = dsub.add_parser("ensure", help="create a database on the same server if missing")
    ens.add_argument("name")
    ens.set_defaults(func=_ensure)
