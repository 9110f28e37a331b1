"""The `tirelire` command line.

    tirelire migrate             create or upgrade the tables (run it first, and after upgrades)
    tirelire demo                the main job: a whole campaign year on the configured database
    tirelire balances            the balances projection: totals per account kind, trial balance
    tirelire serve [--host 127.0.0.1] [--port 8080] [--workers 1] [--access-log]
                                 the HTTP API until SIGTERM or Ctrl-C (--workers > 1:
                                 PostgreSQL only, processes sharing the port)
    tirelire token issue --role ROLE --subject ID [--ttl SECONDS]
                                 a bearer token, printed alone on stdout
    tirelire token public-key    the public key that verifies tokens (PEM)
    tirelire token keygen PATH   write a new Ed25519 signing key (never over an existing file)
    tirelire apikey issue --vendor VENDOR_ID [--scope OPERATION_ID ...]
                                 a vendor's API key; its secret is shown this once only
    tirelire apikey revoke KEY_ID
    tirelire apikey list --vendor VENDOR_ID
    tirelire export --key operator.pem [--every N] [--out FILE]
                                 the log and signed checkpoints, for auditors (JSON Lines)
    tirelire verify EXPORT --key operator.pub [--witness witness.pub]
                                 check an export offline: no database, no trust in us
    tirelire audit keygen PATH   a new Ed25519 key in PATH, its public key in PATH.pub
    tirelire audit cosign EXPORT --operator operator.pub --key witness.pem --out FILE

The database comes from `TIRELIRE_DATABASE_URL` (default: `sqlite:///tirelire.db`, a file in
the current directory; no server needed). Tokens are signed with the key in
`TIRELIRE_SIGNING_KEY_FILE`; on the SQLite default a development key is made on first use
beside the database file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import migrations
from api import tokens
from api.audit_cli import add_audit_commands
from api.audit_pass_cli import add_pass_action
from api.bootstrap import build_services, check_schema
from api.demo import DemoPlan, run_demo
from api.keys import ApiKeys
from api.proof_cli import add_proof_commands
from api.rebuild_cli import add_rebuild_command
from api.render import print_balances
from api.report_cli import add_report_commands
from api.serve import DEFAULT_HOST, DEFAULT_PORT, ServeOptions, serve
from api.spec import Role
from ledger.errors import DomainError, InvalidInput
from ledger.money import Money
from ledger.settings import Settings
from projections.engine import create_read_engine

EXIT_REFUSED = 2
CLI_OPERATOR = "cli:operator"  # `by` of what an operator does through this command line


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

    add_serve_command(commands)
    add_token_commands(commands)
    add_apikey_commands(commands)
    add_pass_action(add_audit_commands(commands))
    add_report_commands(commands)
    add_proof_commands(commands)
    add_rebuild_command(commands)
    return parser


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    serve_parser = commands.add_parser("serve", help="run the HTTP API")
    serve_parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)"
    )
    serve_parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on (default %(default)s)"
    )
    serve_parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port (SO_REUSEPORT); above 1 needs PostgreSQL "
        "(default %(default)s)",
    )
    serve_parser.add_argument(
        "--access-log", action="store_true", help="log every request (off by default)"
    )
    serve_parser.set_defaults(handler=cmd_serve)


def add_token_commands(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser("token", help="bearer tokens signed with Ed25519")
    actions = token.add_subparsers(required=True, metavar="ACTION")

    issue = actions.add_parser("issue", help="print a bearer token")
    issue.add_argument("--role", required=True, metavar="ROLE", help=f"one of: {role_names()}")
    issue.add_argument(
        "--subject", required=True, metavar="ID", help="the caller's id, e.g. a teacher id"
    )
    issue.add_argument(
        "--ttl",
        type=int,
        metavar="SECONDS",
        default=tokens.DEFAULT_TTL_S,
        help="lifetime in seconds (default %(default)s, at most 30 days)",
    )
    issue.set_defaults(handler=cmd_token_issue)

    public_key = actions.add_parser("public-key", help="print the public key (PEM)")
    public_key.set_defaults(handler=cmd_token_public_key)

    keygen = actions.add_parser("keygen", help="write a new signing key file")
    keygen.add_argument("path", metavar="PATH", help="where to write it (must not exist)")
    keygen.set_defaults(handler=cmd_token_keygen)


def add_apikey_commands(commands: argparse._SubParsersAction) -> None:
    apikey = commands.add_parser("apikey", help="API keys of vendors: issue, revoke, list")
    actions = apikey.add_subparsers(required=True, metavar="ACTION")

    issue = actions.add_parser("issue", help="issue a key; its secret is shown once")
    issue.add_argument(
        "--vendor", required=True, metavar="VENDOR_ID", help="the vendor id the key acts for"
    )
    issue.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="OPERATION_ID",
        help="an operation the key may call (repeat it; none: every vendor operation)",
    )
    issue.set_defaults(handler=cmd_apikey_issue)

    revoke = actions.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.set_defaults(handler=cmd_apikey_revoke)

    listing = actions.add_parser("list", help="a vendor's keys (never their secrets)")
    listing.add_argument("--vendor", required=True, metavar="VENDOR_ID", help="the vendor id")
    listing.set_defaults(handler=cmd_apikey_list)


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


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    options = ServeOptions(
        host=args.host, port=args.port, workers=args.workers, access_log=args.access_log
    )
    return serve(settings, options)


def cmd_token_issue(settings: Settings, args: argparse.Namespace) -> int:
    role = parse_role(args.role)
    path = settings.signing_key_path
    is_new_key = path is not None and not path.exists()
    key = tokens.load_or_create_signing_key(settings)
    if is_new_key:
        print(f"Generated a development signing key in {path}.", file=sys.stderr)
    now = int(datetime.now(UTC).timestamp())
    print(tokens.issue_token(key, subject=args.subject, role=role, now=now, ttl_s=args.ttl))
    return 0


def cmd_token_public_key(settings: Settings, _args: argparse.Namespace) -> int:
    key = tokens.load_or_create_signing_key(settings)
    print(tokens.public_key_pem(key).decode("ascii"), end="")
    return 0


def cmd_token_keygen(_settings: Settings, args: argparse.Namespace) -> int:
    tokens.generate_key_file(args.path)
    print(f"Wrote a new Ed25519 signing key to {args.path} (mode 0600).")
    print(f"Use it with TIRELIRE_SIGNING_KEY_FILE={args.path}")
    return 0


def cmd_apikey_issue(settings: Settings, args: argparse.Namespace) -> int:
    with api_keys(settings) as keys:
        key_id, secret = keys.issue(
            subject=args.vendor, scopes=args.scope, by=CLI_OPERATOR, now=datetime.now(UTC)
        )
    print(f"key id: {key_id}")
    print(f"secret: {secret}")
    print("The secret is shown this once and stored only as a hash.", file=sys.stderr)
    return 0


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    with api_keys(settings) as keys:
        revoked = keys.revoke(args.key_id, by=CLI_OPERATOR, now=datetime.now(UTC))
    print(f"Revoked API key {args.key_id}." if revoked else f"{args.key_id} was already revoked.")
    return 0


def cmd_apikey_list(settings: Settings, args: argparse.Namespace) -> int:
    with api_keys(settings) as keys:
        listed = keys.list_for(args.vendor)
    if not listed:
        print(f"No API keys for {args.vendor}.")
    for key in listed:
        status = "active"
        if key["revoked_at"] is not None:
            status = f"revoked {key['revoked_at']:%Y-%m-%d %H:%M} by {key['revoked_by']}"
        scopes = " ".join(key["scopes"]) or "(every operation of the role)"
        created = f"{key['created_at']:%Y-%m-%d %H:%M} by {key['created_by']}"
        print(f"{key['key_id']}  {key['role']}  created {created}  {status}  scopes: {scopes}")
    return 0


@contextmanager
def api_keys(settings: Settings) -> Iterator[ApiKeys]:
    """The API keys of a migrated database, its engine disposed of afterwards."""
    check_schema(settings)
    engine = create_read_engine(settings)
    try:
        yield ApiKeys(engine)
    finally:
        engine.dispose()


def parse_role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise InvalidInput(f"unknown role {name!r}: use one of {role_names()}") from None


def role_names() -> str:
    return ", ".join(role.value for role in Role)


def describe(settings: Settings) -> str:
    store = settings.store
    if store.kind == "sqlite":
        return f"SQLite file {store.sqlite_path}"
    if store.kind == "postgresql":
        return f"PostgreSQL {store.pg_host}:{store.pg_port}/{store.pg_dbname}"
    return "the in-memory store"


if __name__ == "__main__":
    raise SystemExit(main())
