"""The `syncd` command: serve, migrate, seed, up (all three), worker, routes, create-operator,
reset-password.

Settings are read once here; a bad one ends the process with exit code 2 and
one line on stderr naming the variable. `config-reference` (the settings table
of docs/operations.md) reads none.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog
from aiohttp import web
from sqlalchemy.engine import make_url

from storage.database import create_engine, session_factory
from syncd.app import SHUTDOWN_TIMEOUT_S, create_app
from syncd.logging import AccessLogger, configure_early, configure_logging
from syncd.server import serve
from syncd.settings import Settings, SettingsError, load_settings

EXIT_BAD_SETTING = 2
EXIT_BAD_INPUT = 1
OPERATOR_PASSWORD_VARIABLE = "SYNCD_OPERATOR_PASSWORD"  # noqa: S105 (a variable name)
ROUTES_BEGIN = "<!-- routes:begin -->"
ROUTES_END = "<!-- routes:end -->"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncd", description="Offline-first sync server")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "run the HTTP and WebSocket server"),
        ("up", "migrate, seed the demo tenant, then serve"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--host", help="listen address (default: SYNCD_HOST)")
        command.add_argument("--port", type=int, help="listen port (default: SYNCD_PORT)")
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    commands.add_parser("seed", help="create the demo tenant and its admin (idempotent)")
    worker = commands.add_parser("worker", help="run jobs from Redis (rq): media, reports")
    worker.add_argument("--burst", action="store_true", help="stop once the queues are empty")
    commands.add_parser("openapi", help="print the OpenAPI 3.1 document (JSON) and exit")
    config = commands.add_parser(
        "config-reference", help="print every setting as a Markdown table (variable, default, …)"
    )
    config.add_argument(
        "--write",
        metavar="FILE",
        type=Path,
        help="replace the table between <!-- config:begin --> and <!-- config:end --> "
        "in FILE (docs/operations.md) instead of printing it",
    )
    routes = commands.add_parser("routes", help="print every route with its method and permission")
    routes.add_argument("--markdown", action="store_true", help="print a Markdown table")
    routes.add_argument(
        "--write",
        metavar="FILE",
        type=Path,
        help=f"with --markdown: replace the table between {ROUTES_BEGIN} and {ROUTES_END} "
        "in FILE (docs/routes.md) instead of printing it",
    )
    operator = commands.add_parser(
        "create-operator",
        help="create or promote a platform operator in the system tenant "
        f"(password from {OPERATOR_PASSWORD_VARIABLE}, else generated and printed once)",
    )
    operator.add_argument("--email", required=True, help="the operator's email address")
    reset = commands.add_parser(
        "reset-password",
        help="mail a user a single-use password reset link (the outbox; sent now with SMTP_URL)",
    )
    reset.add_argument("--tenant", required=True, help="the tenant's slug")
    reset.add_argument("--email", required=True, help="the user's email address")
    reset.add_argument(
        "--print-token",
        action="store_true",
        help="also print the raw reset token (to hand over when no mail gets through)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config-reference":  # documents the settings; needs none
        return _config_reference(args.write)
    configure_early()  # a line written while settings load is JSON like the rest
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"syncd: invalid setting {exc.variable}: {exc.problem}", file=sys.stderr)
        return EXIT_BAD_SETTING
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "seed":
        asyncio.run(_seed(settings))
    elif args.command == "openapi":
        _print_openapi(settings)
    elif args.command == "routes":
        return _print_routes(settings, args.markdown, args.write)
    elif args.command == "create-operator":
        return asyncio.run(_create_operator(settings, args.email))
    elif args.command == "reset-password":
        return asyncio.run(_reset_password(settings, args.tenant, args.email, args.print_token))
    elif args.command == "worker":
        from syncd.worker import run_worker

        return run_worker(settings, burst=args.burst)
    else:
        if args.command == "up":
            asyncio.run(_up(settings))
            step(3, f"serving on http://{args.host or settings.host}:{args.port or settings.port}")
        _serve(settings, args.host, args.port)
    return 0


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_objects)
    listening = f"http://{host or settings.host}:{port or settings.port}"

    async def _listening(_app: web.Application) -> None:
        structlog.get_logger("syncd.serve").info("serving", url=listening, env=settings.env.value)

    app.on_startup.append(_listening)
    serve(
        app,
        host or settings.host,
        port or settings.port,
        header_timeout_s=settings.header_timeout_s,
        access_log_class=AccessLogger,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        print=None,  # aiohttp's banner is not JSON: the line below says it instead
    )


YOUNG_COLLECTION_EVERY = 20_000  # allocations between two young collections


async def _freeze_startup_objects(app: web.Application) -> None:
    """Leave what start-up built (modules, schemas, pools) out of garbage collection.

    Those objects live as long as the process, yet every full collection walked
    them again: with them frozen, a push of 500 changes took 57 ms instead of
    75 ms, and a pull page a third less (bench/sync_push_pull.py).

    A young collection every 20,000 allocations instead of 700: a push of 500
    changes makes some 100,000 objects that live as long as the push, and each
    early collection moved them on to be walked again by the older ones (server
    CPU per pushed change about 8 us lower, throughput 5-10%: docs/decisions.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, 20, 10)


UP_STEPS = 3


def step(number: int, doing: str) -> None:
    """One of `syncd up`'s steps, said before it starts (stdout; the logs go to stderr)."""
    print(f"syncd up: step {number} of {UP_STEPS}: {doing}", flush=True)


async def _up(settings: Settings) -> None:
    """`syncd up` before it serves: the schema, then the demo tenant, each step said."""
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    step(1, f"bringing the database to the latest schema ({where})")
    await _migrate(settings)
    step(2, "seeding the system tenant, the demo tenant and its admin")
    await _seed(settings)


async def _migrate(settings: Settings) -> None:
    from syncd.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("syncd: database at the latest schema", flush=True)


async def _seed(settings: Settings) -> None:
    from syncd.seed import seed

    engine = create_engine(settings.database_url)
    try:
        result = await seed(
            session_factory(engine), settings.seed_admin_email, settings.seed_admin_password
        )
    finally:
        await engine.dispose()
    if result.system_tenant_created:
        print("syncd: created the system tenant 'system' (platform operators)", flush=True)
    if result.generated_password is not None:
        print(
            f"syncd: created admin {result.admin_email} in tenant 'demo' with password "
            f"{result.generated_password} (shown once)",
            flush=True,
        )
    elif result.admin_created:
        print(f"syncd: created admin {result.admin_email} in tenant 'demo'", flush=True)
    else:
        print("syncd: demo tenant and admin already present; nothing changed", flush=True)


async def _create_operator(settings: Settings, email: str) -> int:
    from pydantic import EmailStr, TypeAdapter, ValidationError

    from syncd.passwords import PasswordPolicyError
    from syncd.seed import SYSTEM_SLUG, create_operator

    try:
        email = str(TypeAdapter(EmailStr).validate_python(email.strip()))
    except ValidationError:
        print(f"syncd: {email!r} is not an email address", file=sys.stderr)
        return EXIT_BAD_INPUT
    engine = create_engine(settings.database_url)
    try:
        result = await create_operator(
            session_factory(engine),
            email,
            os.environ.get(OPERATOR_PASSWORD_VARIABLE) or None,
            settings.bcrypt_rounds,
        )
    except PasswordPolicyError as exc:
        print(f"syncd: {OPERATOR_PASSWORD_VARIABLE}: the password {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        await engine.dispose()
    done = "created" if result.created else "promoted"
    line = f"syncd: {done} platform operator {result.email} in tenant '{SYSTEM_SLUG}'"
    if result.generated_password is not None:
        line += f" with password {result.generated_password} (shown once)"
    elif result.password_set:
        line += f" with the password from {OPERATOR_PASSWORD_VARIABLE}"
    print(line, flush=True)
    return 0


async def _reset_password(settings: Settings, slug: str, email: str, print_token: bool) -> int:
    from syncd.admin.audit import NOWHERE
    from syncd.auth.ratelimit import MemoryLimiter
    from syncd.auth.service import AuthService
    from syncd.mail import send_pending
    from syncd.users.recovery import PasswordResets, tenant_by_slug
    from syncd.web.problems import Problem

    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        tenant = await tenant_by_slug(sessions, slug.strip().lower())
        if tenant is None:
            print(f"syncd: no tenant {slug!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        auth = AuthService(settings, sessions, MemoryLimiter(settings.login_rate_window_s))
        try:
            sent = await PasswordResets(settings, sessions, auth).send_reset(
                NOWHERE, tenant, email=email
            )
        except Problem as exc:
            print(f"syncd: {exc.detail}", file=sys.stderr)
            return EXIT_BAD_INPUT
        delivered = await send_pending(sessions, settings, tenant.id)
    finally:
        await engine.dispose()
    how = "sent" if delivered else "queued in the outbox (pending: no SMTP_URL or not delivered)"
    print(
        f"syncd: password reset for {sent.email} in tenant '{tenant.slug}' {how}; "
        f"the link works once, until {sent.expires_at:%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    if print_token:
        print(sent.token, flush=True)
    return 0


def _route_rows(app: web.Application) -> list[tuple[str, str, str]]:
    """(method, path, permission) of every route, in the order they were added."""
    from syncd.auth.permissions import permission_of

    rows = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        permission = permission_of(route.handler)
        rows.append((route.method, route.resource.canonical, str(permission or "UNDECLARED")))
    return rows


def routes_markdown(app: web.Application) -> str:
    """Every route of `app` as a Markdown table: `| method | path | permission |`."""
    lines = ["| method | path | permission |", "|---|---|---|"]
    for method, path, permission in _route_rows(app):
        path_cell = path.replace("|", r"\|")  # a pipe would end the cell
        lines.append(f"| {method} | `{path_cell}` | `{permission}` |")
    return "\n".join(lines) + "\n"


def replace_routes_table(text: str, table: str) -> str:
    """`text` with the part between the routes markers replaced by `table`."""
    head, begin, rest = text.partition(ROUTES_BEGIN)
    _, end, tail = rest.partition(ROUTES_END)
    if not begin or not end:
        raise ValueError(f"needs a line {ROUTES_BEGIN} and, after it, a line {ROUTES_END}")
    return f"{head}{ROUTES_BEGIN}\n{table}{ROUTES_END}{tail}"


def _print_routes(settings: Settings, markdown: bool = False, write: Path | None = None) -> int:
    app = create_app(settings)
    if write is not None:
        if not markdown:
            print("syncd: routes --write needs --markdown", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            updated = replace_routes_table(write.read_text(encoding="utf-8"), routes_markdown(app))
        except (OSError, ValueError) as exc:
            print(f"syncd: cannot update {write}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        write.write_text(updated, encoding="utf-8")
        print(f"syncd: wrote the routes table into {write}", file=sys.stderr)
    elif markdown:
        print(routes_markdown(app), end="")
    else:
        for method, path, permission in _route_rows(app):
            print(f"{method:7} {path:40} {permission}")
    return 0


def _config_reference(write: Path | None) -> int:
    from syncd.config_reference import config_reference_markdown, replace_config_table

    if write is None:
        print(config_reference_markdown(), end="")
        return 0
    try:
        text = write.read_text(encoding="utf-8")
        updated = replace_config_table(text, config_reference_markdown())
    except (OSError, ValueError) as exc:
        print(f"syncd: cannot update {write}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    write.write_text(updated, encoding="utf-8")
    print(f"syncd: wrote the configuration table into {write}", file=sys.stderr)
    return 0


def _print_openapi(settings: Settings) -> None:
    """The document /openapi.json serves, generated offline (no database, no server)."""
    import json

    from syncd.openapi.document import build_document

    print(json.dumps(build_document(create_app(settings)), indent=2, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
