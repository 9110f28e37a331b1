"""The `tirelire` command line.

    tirelire migrate             create or upgrade the tables (run it first, and after upgrades)
    tirelire demo                the main job: a whole campaign year on the configured database
    tirelire balances            the balances projection: totals per account kind, trial balance

The database comes from `TIRELIRE_DATABASE_URL` (default: `sqlite:///tirelire.db`, a file in
the current directory; no server needed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import migrations
from api.bootstrap import build_services
from api.demo import DemoPlan, run_demo
from api.render import print_balances
from ledger.errors import DomainError
from ledger.money import Money
from ledger.settings import Settings

EXIT_REFUSED = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.handler(settings, args)
    except DomainError as error:
        print(f"tirelire: {error.code}: {error.message}", file=sys.stderr)
        return EXIT_REFUSED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tirelire", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="create or upgrade the tables")
    migrate.set_defaults(handler=cmd_migrate)

    demo = commands.add_parser("demo", help="run a whole campaign year (the main job)")
    demo.add_argument(
        "--teachers",
        type=int,
        default=DemoPlan.teachers,
        help="teachers to grant credit to (default %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=DemoPlan.seed,
        help="seed of the simulated orders (default %(default)s)",
    )
    demo.add_argument(
        "--campaign-key",
        default=None,
        help="idempotency key of the campaign (default: a new one per run)",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(handler=cmd_demo)

    balances = commands.add_parser("balances", help="balances per account kind")
    balances.add_argument("--account", help="one account's balance, e.g. funder:etat")
    balances.set_defaults(handler=cmd_balances)
    return parser


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    store = settings.store
    print(f"Migrating {describe(settings)} …")
    migrations.upgrade(store.sqlalchemy_url())
    print(f"Schema at revision {migrations.current_revision(store.sqlalchemy_url())}.")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    services = build_services(settings)
    try:
        plan = DemoPlan(
            teachers=args.teachers,
            seed=args.seed,
            campaign_key=args.campaign_key,
            show_progress=not args.quiet,
        )
        print(f"Demo on {describe(settings)}")
        run_demo(services, plan, out=sys.stdout)
        return 0
    finally:
        services.close()


def cmd_balances(settings: Settings, args: argparse.Namespace) -> int:
    services = build_services(settings)
    try:
        services.balances_runner.catch_up()
        if args.account:
            print(f"{args.account}  {Money(services.balances.balance(args.account))}")
            return 0
        print_balances(services)
        return 0
    finally:
        services.close()


def describe(settings: Settings) -> str:
    store = settings.store
    if store.kind == "sqlite":
        return f"SQLite file {store.sqlite_path}"
    if store.kind == "postgresql":
        return f"PostgreSQL {store.pg_host}:{store.pg_port}/{store.pg_dbname}"
    return "the in-memory store"


if __name__ == "__main__":
    raise SystemExit(main())
