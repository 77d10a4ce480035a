"""The `chatcrm` command: serve, demo data, shops, tokens, users, channels, exports, schedules."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import aiohttp

from chatcrm.config import Settings, SettingsError, local_base_url
from chatcrm.database import Database, DatabaseUnavailable, driver_reason, open_database
from chatcrm.domain import ROLES, Channel, DomainError, Shop
from chatcrm.embedded import EmbeddedError
from chatcrm.http import json_default
from chatcrm.report_query import FILTER_NAMES, REPORT_FILTERS, ReportFilter
from chatcrm.store.base import DATABASE_ERRORS
from connectors.base import PlatformError
from connectors.registry import CONNECTORS, PLATFORMS, SECRETS

log = logging.getLogger("chatcrm")


Command = Callable[[Database, argparse.Namespace], Awaitable[dict[str, Any]]]


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=json_default))
        return
    for key, value in result.items():
        if isinstance(value, list):
            print(f"{key}:")
            for item in value:
                print("  " + "  ".join(f"{k}={_text(v)}" for k, v in item.items()))
        else:
            print(f"{key}: {_text(value)}")


def _text(value: Any) -> Any:
    """A value as the human output shows it: times in the API's one format."""
    return json_default(value) if isinstance(value, date) else value


async def _shop_create(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    store = database.store
    shop = await store.shops.create(
        args.name, timezone=args.timezone, currency=args.currency, locale=args.locale
    )
    token = await store.tokens.create(shop.id, "owner", "owner")
    return {
        "shop_id": shop.id,
        "name": shop.name,
        "timezone": shop.timezone,
        "currency": shop.currency,
        "locale": shop.locale,
        "token": token,
        "note": "the token is shown only once; keep it",
    }


async def _shop_list(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    shops = await database.store.shops.list()
    return {"shops": [{"id": s.id, "name": s.name, "timezone": s.timezone} for s in shops]}


async def _require_shop(database: Database, shop_id: str) -> Shop:
    shop = await database.store.shops.get(shop_id)
    if shop is None:
        raise DomainError(f"no shop with id {shop_id}", field="shop")
    return shop


async def _token_create(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    await _require_shop(database, args.shop)
    token = await database.store.tokens.create(args.shop, args.role, args.label)
    return {"shop_id": args.shop, "role": args.role, "label": args.label, "token": token}


def _read_password(args: argparse.Namespace) -> str:
    """The new password: one line of standard input, or typed twice at a prompt."""
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise DomainError("no terminal to ask for a password: use --password-stdin", "password")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise DomainError("the two passwords differ", field="password")
    return first


async def _user_create(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.auth import check_password, hash_password
    from chatcrm.input_rules import normalise_email

    await _require_shop(database, args.shop)
    email = normalise_email(args.email)
    password = check_password(await asyncio.to_thread(_read_password, args))
    user = await database.store.users.create(
        args.shop, email, args.role, await hash_password(password)
    )
    await database.store.for_shop(args.shop).audit.record("cli", "user.create", email=email)
    return {"user_id": user.id, "shop_id": user.shop_id, "email": email, "role": user.role}


async def _user_reset_link(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.auth import link_url, reset_link
    from chatcrm.input_rules import normalise_email

    user = await database.store.users.by_email(normalise_email(args.email))
    if user is None:
        raise DomainError(f"no user with e-mail {args.email}", field="email")
    token, expires = await reset_link(database.store, user)
    link = link_url(local_base_url(database.settings or Settings()), "reset", token)
    return {"email": user.email, "link": link, "expires_at": expires}


async def _user_invite(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.auth import invite, link_url
    from chatcrm.input_rules import normalise_email

    await _require_shop(database, args.shop)
    email = normalise_email(args.email)
    token, expires = await invite(database.store, args.shop, email, args.role, "cli")
    await database.store.for_shop(args.shop).audit.record(
        "cli", "user.invite", email=email, role=args.role
    )
    link = link_url(local_base_url(database.settings or Settings()), "invite", token)
    return {"email": email, "role": args.role, "link": link, "expires_at": expires}


async def _user_list(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    await _require_shop(database, args.shop)
    users = await database.store.users.of_shop(args.shop)
    return {
        "users": [
            {"email": u.email, "role": u.role, "password_set": u.password_hash is not None}
            for u in users
        ]
    }


async def _admin_link_code(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.bot.admins import create_link_code

    await _require_shop(database, args.shop)
    code, expires = await create_link_code(database.store.for_shop(args.shop), args.role, "cli")
    return {
        "shop_id": args.shop,
        "role": args.role,
        "code": code,
        "expires_at": expires.isoformat(),
        "note": f"send /link {code} to any channel of the shop within 10 minutes; works once",
    }


async def _channel_add(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    await _require_shop(database, args.shop)
    connector = CONNECTORS[args.platform]
    secrets = connector.validate_secrets({name: getattr(args, name, None) for name in SECRETS})
    settings = database.settings
    if args.register_webhook:
        if not connector.registers_webhook or settings is None:
            raise DomainError(
                f"--register-webhook is not available for {args.platform} channels",
                field="register_webhook",
            )
        if settings.public_url is None:
            raise DomainError("--register-webhook needs CHATCRM_PUBLIC_URL", field="public_url")
    shop = database.store.for_shop(args.shop)
    channel = await shop.channels.add(args.platform, secrets, name=args.name)
    result = {
        "channel_id": channel.id,
        "platform": channel.platform,
        "name": channel.name,
        "webhook_path": channel.webhook_path,
    }
    if args.register_webhook and settings is not None:
        try:
            result["webhook_url"] = await _register_webhook(settings, channel)
        except PlatformError as err:
            await shop.channels.remove(channel.id)  # no channel without its webhook
            raise DomainError(f"the channel was not added: {err}", "register_webhook") from err
    await shop.audit.record("cli", "channel.add", channel_id=channel.id, platform=args.platform)
    return result


async def _register_webhook(settings: Settings, channel: Channel) -> str:
    """Point the platform at the channel's public webhook URL through its connector."""
    assert settings.public_url is not None
    url = settings.public_url + channel.webhook_path
    async with aiohttp.ClientSession() as http:
        connector = CONNECTORS[channel.platform](channel, settings, http)
        try:
            await connector.register_webhook(url)
        finally:
            await connector.close()
    return url


async def _inbox_failed(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    store = database.store
    if args.shop:
        await _require_shop(database, args.shop)
        events = await store.for_shop(args.shop).inbox.failed(args.limit)
    else:
        events = await store.inbox_queue.failed(args.limit)
    keys = ("id", "shop_id", "platform", "channel_id", "attempts", "received_at", "last_error")
    return {"failed": [{k: e[k] for k in keys} for e in events]}


async def _inbox_retry(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    event = await database.store.inbox_queue.find(args.id)
    if event is None:
        raise DomainError(f"no inbox event with id {args.id}", field="id")
    shop = database.store.for_shop(event["shop_id"])
    if not await shop.inbox.retry(args.id):
        raise DomainError(f"inbox event {args.id} is {event['state']}, not failed", field="id")
    await shop.audit.record("cli", "inbox.retry", event_id=args.id)
    return {"id": args.id, "state": "pending"}


async def _channel_list(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    await _require_shop(database, args.shop)
    channels = await database.store.for_shop(args.shop).channels.list()
    return {
        "channels": [
            {
                "id": c.id,
                "platform": c.platform,
                "name": c.name,
                "enabled": c.enabled,
                "webhook_path": c.webhook_path,
            }
            for c in channels
        ]
    }


async def _import(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from pathlib import Path

    from chatcrm.imports import run_import

    shop = await _require_shop(database, args.shop)
    try:
        data = await asyncio.to_thread(Path(args.file).read_bytes)
    except OSError as err:
        raise DomainError(f"cannot read {args.file}: {err.strerror}", field="file") from None
    scoped = database.store.for_shop(shop.id)
    report = await run_import(scoped, args.kind, data, shop.currency, "cli", source=args.file)
    return report.as_dict()


def _export_body(args: argparse.Namespace) -> dict[str, Any]:
    """The API's export body from the command line's options."""
    body: dict[str, Any] = {"mode": args.mode, "format": args.format, "split": args.split}
    if args.sort:
        body["sort"] = args.sort
    if args.order:
        body["order"] = args.order
    if args.ids:
        body["ids"] = [i.strip() for value in args.ids for i in value.split(",") if i.strip()]
    filters = {
        name: getattr(args, name)
        for name in FILTER_NAMES
        if getattr(args, name, None) not in (None, [])
    }
    if filters:
        body["filters"] = filters
    return body


async def _export(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    import shutil
    from pathlib import Path

    from tqdm import tqdm

    from reports.exports import export_customers, export_workdir, parse_export_request

    shop = await _require_shop(database, args.shop)
    request = parse_export_request(_export_body(args), shop.timezone)
    bar = tqdm(total=0, unit="rows", desc="export", file=sys.stderr, disable=args.quiet)

    def progress(rows: int, total: int) -> None:
        bar.total = total
        bar.update(rows - bar.n)

    async with export_workdir() as workdir:
        try:
            result = await export_customers(
                database.store.for_shop(shop.id),
                shop,
                request,
                actor="cli",
                workdir=workdir,
                progress=progress,
            )
        finally:
            bar.close()
        output = Path(args.output)
        await asyncio.to_thread(shutil.move, result.path, output)
    return {
        "file": str(output),
        "rows": result.rows,
        "parts": result.parts,
        "suggested_name": result.filename,
    }


def _schedule_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A schedule as one line of the CLI's output."""
    from chatcrm.schedules import schedule_view

    view = schedule_view(doc, datetime.now(UTC))
    cadence = view["cadence"]
    when = " ".join(str(cadence[k]) for k in ("every", "weekday", "day", "at") if cadence[k])
    return {
        "id": view["id"],
        "name": view["name"],
        "cadence": f"{when} {view['timezone']}",
        "recipients": ",".join(view["recipients"]),
        "format": view["format"],
        "period": view["period"],
        "segment_id": view["segment_id"],
        "enabled": view["enabled"],
        "next_fire_at": view["next_fire_at"],
    }


async def _schedule_list(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    await _require_shop(database, args.shop)
    docs = await database.store.for_shop(args.shop).schedules.list()
    return {"schedules": [_schedule_row(d) for d in docs]}


async def _schedule_add(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.schedules import MAX_SCHEDULES, parse_schedule
    from chatcrm.store.schedules import ms_of

    shop = await _require_shop(database, args.shop)
    day = int(args.day) if args.day and args.day.isdigit() else args.day
    body = {
        "name": args.name,
        "cadence": {"every": args.every, "at": args.at, "weekday": args.weekday, "day": day},
        "recipients": [r.strip() for value in args.to for r in value.split(",") if r.strip()],
        "format": args.format,
        "period": args.period,
        "enabled": not args.disabled,
        "segment_id": args.segment,
    }
    fields = parse_schedule(body)
    scoped = database.store.for_shop(shop.id)
    if args.segment and await scoped.segments.get(args.segment) is None:
        raise DomainError(f"no segment with id {args.segment}", field="segment")
    if await scoped.schedules.tally() >= MAX_SCHEDULES:
        raise DomainError(f"a shop keeps at most {MAX_SCHEDULES} schedules", field="shop")
    doc = await scoped.schedules.create(fields, shop.timezone, ms_of(datetime.now(UTC)))
    await scoped.audit.record("cli", "schedule.create", schedule_id=doc["_id"])
    return _schedule_row(doc)


async def _schedule_of(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    await _require_shop(database, args.shop)
    doc = await database.store.for_shop(args.shop).schedules.get(args.id)
    if doc is None:
        raise DomainError(f"shop {args.shop} has no report schedule {args.id}", field="id")
    return doc


async def _schedule_send(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.delivery import Deliverer
    from chatcrm.mailer import mailer_for
    from chatcrm.store.schedules import FAILED, delivery_view

    schedule = await _schedule_of(database, args)
    settings = database.settings or Settings.from_env()
    deliverer = Deliverer(database.store, settings, mailer_for(settings))
    delivery = delivery_view(await deliverer.send_test(schedule, "cli"))
    return {**_flat(delivery), "exit_code": 1 if delivery["state"] == FAILED else 0}


def _flat(delivery: dict[str, Any]) -> dict[str, Any]:
    """A delivery with its lists as comma-separated text, for the CLI."""
    return {k: ",".join(v) if isinstance(v, list) else v for k, v in delivery.items()}


async def _schedule_deliveries(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.store.schedules import delivery_view

    schedule = await _schedule_of(database, args)
    shop = database.store.for_shop(args.shop)
    docs = await shop.deliveries.page(schedule["_id"], args.limit)
    return {"deliveries": [_flat(delivery_view(d)) for d in docs]}


async def _demo(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.demo import seed_demo

    return await seed_demo(database.store, customers=args.customers)


async def _reindex_search(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    if args.shop:
        await _require_shop(database, args.shop)
    rows = await database.store.reindex_search(args.shop)
    return {"shops": rows}


async def _recount(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    from chatcrm.store import counts

    if args.shop:
        shops = [(await _require_shop(database, args.shop)).id]
    else:
        shops = [shop.id for shop in await database.store.shops.list()]
    recounted = await counts.recount_shops(database.store.db, shops)
    busy = [shop for shop in shops if shop not in recounted]
    return {"recounted": recounted, "busy": busy, "exit_code": 1 if busy else 0}


def _run_store_command(settings: Settings, command: Command, args: argparse.Namespace) -> int:
    async def run() -> dict[str, Any]:
        async with open_database(settings) as database:
            return await command(database, args)

    try:
        result = asyncio.run(run())
    except DomainError as err:
        where = f"{err.field}: " if err.field else ""
        print(f"chatcrm: {where}{err}", file=sys.stderr)
        return 2
    except DATABASE_ERRORS as err:
        print(f"chatcrm: the database stopped answering: {driver_reason(err)}", file=sys.stderr)
        return 1
    code = result.pop("exit_code", 0)
    _print(result, args.json)
    return 1 if result.get("rejected") else code


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from chatcrm.app import create_app

    if args.host:
        settings = settings.with_changes(host=args.host)
    if args.port is not None:
        settings = settings.with_changes(port=args.port)
    app = create_app(settings)
    if args.demo:
        from chatcrm.demo import demo_on_startup

        app.on_startup.append(demo_on_startup)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=log.info,
        access_log=None,
        shutdown_timeout=10,
        handle_signals=True,
    )
    return 0


def _secret_key(args: argparse.Namespace) -> int:
    """Print a new key; reads no configuration (it makes the key a MONGODB_URI set-up lacks)."""
    from chatcrm.secrets_box import SecretBox

    key = SecretBox.generate_key()
    print(json.dumps({"secret_key": key}) if args.json else key)  # plain: for $(...)
    return 0


def _add_filter_option(parser: argparse.ArgumentParser, report_filter: ReportFilter) -> None:
    """The option of one report filter: ``--postal-code`` for ``postal_code``."""
    flag = "--" + report_filter.name.replace("_", "-")
    help_text = report_filter.description.replace("`", "")
    if not report_filter.repeated:
        parser.add_argument(flag, help=help_text)
        return
    if "repeat" not in help_text:
        help_text += " (repeatable)"
    parser.add_argument(flag, action="append", help=help_text)


def command(parent: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand of `parent`, with the ``--json`` option every command has."""
    p = parent.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def _add_service_commands(sub: Any) -> None:
    """``serve``, ``demo`` and ``import``."""
    serve = command(sub, "serve", "run the HTTP service")
    serve.add_argument("--host", help="bind address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT or 8080)")
    serve.add_argument("--demo", action="store_true", help="create the demo shop on start-up")
    serve.set_defaults(run=_serve)

    demo = command(sub, "demo", "create the demo shop with realistic data (idempotent)")
    demo.add_argument("--customers", type=int, default=5000)
    demo.set_defaults(store_command=_demo)

    reindex = command(
        sub,
        "reindex-search",
        "rebuild the search terms of a shop's customers (every shop without --shop); the "
        "repair after a crash between a customer write and its terms",
    )
    reindex.add_argument("--shop", help="shop id (default: every shop)")
    reindex.set_defaults(store_command=_reindex_search)

    imp = command(sub, "import", "import customers or orders from a CSV file (UTF-8)")
    imp.add_argument("kind", choices=("customers", "orders"))
    imp.add_argument("file", help="CSV file; the header row names the columns")
    imp.add_argument("--shop", required=True)
    imp.set_defaults(store_command=_import)

    recount = command(sub, "recount", "recount the report summary's counters (after a crash)")
    recount.add_argument("--shop", help="this shop only (default: every shop)")
    recount.set_defaults(store_command=_recount)


def _add_export_command(sub: Any) -> None:
    """``export``, with an option per report filter."""
    export = command(sub, "export", "export a shop's customers as XLSX or CSV")
    export.add_argument("--shop", required=True)
    export.add_argument("--format", required=True, choices=("xlsx", "csv"))
    export.add_argument("--mode", default="filtered", choices=("selected", "filtered", "all"))
    export.add_argument("--ids", action="append", help="mode selected: customer ids, a,b,c")
    for report_filter in REPORT_FILTERS:
        _add_filter_option(export, report_filter)
    export.add_argument("--sort", help="paid_total (default), updated_at, last_order_at, ...")
    export.add_argument("--order", choices=("asc", "desc"))
    export.add_argument("--split", action="store_true", help="over 20,000 rows: a ZIP of parts")
    export.add_argument("-o", "--output", required=True, help="file to write")
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    export.set_defaults(store_command=_export)


def _add_shop_commands(sub: Any) -> None:
    """``shop create|list`` and ``token create``."""
    shop = sub.add_parser("shop", help="shops").add_subparsers(dest="action", required=True)
    create = command(shop, "create", "create a shop and print its owner token")
    create.add_argument("name")
    create.add_argument("--timezone", default="Asia/Bangkok")
    create.add_argument("--currency", default="THB")
    create.add_argument("--locale", default="th")
    create.set_defaults(store_command=_shop_create)
    command(shop, "list", "list shops").set_defaults(store_command=_shop_list)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    tcreate = command(token, "create", "create an API token for a shop user")
    tcreate.add_argument("--shop", required=True)
    tcreate.add_argument("--role", choices=ROLES, default="staff")
    tcreate.add_argument("--label", default="staff")
    tcreate.set_defaults(store_command=_token_create)


def _add_user_commands(sub: Any) -> None:
    """``user create|invite|reset-link|list``: dashboard accounts."""
    user = sub.add_parser("user", help="dashboard users").add_subparsers(
        dest="action", required=True
    )
    create = command(user, "create", "add a user with a password (prompted, or --password-stdin)")
    create.add_argument("--shop", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=ROLES, default="staff")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(store_command=_user_create)
    inv = command(user, "invite", "print a one-time invitation link (valid 7 days)")
    inv.add_argument("--shop", required=True)
    inv.add_argument("--email", required=True)
    inv.add_argument("--role", choices=ROLES, default="staff")
    inv.set_defaults(store_command=_user_invite)
    reset = command(user, "reset-link", "print a one-time link to set a new password (24 h)")
    reset.add_argument("--email", required=True)
    reset.set_defaults(store_command=_user_reset_link)
    ulist = command(user, "list", "a shop's users")
    ulist.add_argument("--shop", required=True)
    ulist.set_defaults(store_command=_user_list)


def _add_admin_commands(sub: Any) -> None:
    """``admin link-code``."""
    admin = sub.add_parser("admin", help="chat admins (the shop's bot answers them)")
    actions = admin.add_subparsers(dest="action", required=True)
    code = command(actions, "link-code", "a one-time code that links a seller's chat account")
    code.add_argument("--shop", required=True)
    code.add_argument("--role", choices=ROLES, default="staff")
    code.set_defaults(store_command=_admin_link_code)


def _add_inbox_commands(sub: Any) -> None:
    """``inbox failed|retry``."""
    inbox = sub.add_parser("inbox", help="raw webhook events").add_subparsers(
        dest="action", required=True
    )
    failed = command(inbox, "failed", "list events whose processing failed")
    failed.add_argument("--shop", help="only this shop's events")
    failed.add_argument("--limit", type=int, default=100)
    failed.set_defaults(store_command=_inbox_failed)
    retry = command(inbox, "retry", "queue a failed event again")
    retry.add_argument("id")
    retry.set_defaults(store_command=_inbox_retry)


def _add_schedule_commands(sub: Any) -> None:
    """``schedule list|add|send|deliveries``."""
    from chatcrm.schedules import EVERY, FORMATS, PERIODS, WEEKDAYS

    schedule = sub.add_parser("schedule", help="scheduled report e-mails").add_subparsers(
        dest="action", required=True
    )
    listed = command(schedule, "list", "list a shop's report schedules")
    listed.add_argument("--shop", required=True)
    listed.set_defaults(store_command=_schedule_list)
    add = command(schedule, "add", "schedule a report e-mail (times in the shop's time zone)")
    add.add_argument("--shop", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--every", required=True, choices=EVERY)
    add.add_argument("--at", required=True, help="HH:MM, 24-hour clock")
    add.add_argument("--weekday", choices=WEEKDAYS, help="with --every week")
    add.add_argument("--day", help="with --every month: 1-28 or last")
    add.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    add.add_argument("--segment", help="a saved segment's id (default: every customer)")
    add.add_argument("--format", choices=FORMATS, default="xlsx")
    add.add_argument("--period", choices=PERIODS, default="cadence")
    add.add_argument("--disabled", action="store_true", help="create it switched off")
    add.set_defaults(store_command=_schedule_add)
    send = command(schedule, "send", "send a schedule's report now (a test send)")
    send.add_argument("--shop", required=True)
    send.add_argument("id")
    send.set_defaults(store_command=_schedule_send)
    history = command(schedule, "deliveries", "a schedule's deliveries, newest first")
    history.add_argument("--shop", required=True)
    history.add_argument("id")
    history.add_argument("--limit", type=int, default=20)
    history.set_defaults(store_command=_schedule_deliveries)


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="chatcrm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_service_commands(sub)
    _add_export_command(sub)
    command(sub, "secret-key", "print a new CHATCRM_SECRET_KEY")
    _add_shop_commands(sub)

    channel = sub.add_parser("channel", help="chat channels").add_subparsers(
        dest="action", required=True
    )
    add = command(channel, "add", "connect a chat channel and print its webhook path")
    add.add_argument("--shop", required=True)
    add.add_argument("--platform", required=True, choices=PLATFORMS)
    add.add_argument("--name")
    for name, secret in SECRETS.items():
        add.add_argument("--" + name.replace("_", "-"), dest=name, help=secret.help)
    add.add_argument(
        "--register-webhook",
        action="store_true",
        help="set the webhook URL (CHATCRM_PUBLIC_URL + path) through the platform's API: "
        + ", ".join(p for p, c in CONNECTORS.items() if c.registers_webhook),
    )
    add.set_defaults(store_command=_channel_add)
    clist = command(channel, "list", "list a shop's channels")
    clist.add_argument("--shop", required=True)
    clist.set_defaults(store_command=_channel_list)
    _add_inbox_commands(sub)
    _add_user_commands(sub)
    _add_schedule_commands(sub)
    _add_admin_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `chatcrm` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "secret-key":
        return _secret_key(args)
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        print(f"chatcrm: configuration error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if hasattr(args, "store_command"):
            return _run_store_command(settings, args.store_command, args)
        return int(args.run(settings, args))
    except EmbeddedError as err:
        print(f"chatcrm: embedded database: {err}", file=sys.stderr)
        return 1
    except DatabaseUnavailable as err:
        print(f"chatcrm: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
