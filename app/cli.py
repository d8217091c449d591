"""The command line: ``python -m app COMMAND``.

migrate     apply the committed migrations
serve       run the HTTP server (--host, --port, --workers)
calendar    which years the working-day calendar knows (deadlines past them are estimates)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from app.core.settings import Settings, SettingsError


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print("shengshi cannot start; fix these settings first:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("See .env.example and the settings table in README.md.", file=sys.stderr)
        raise SystemExit(2) from exc


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.core.db import migrate

    settings = load_settings()
    print(f"Migrating {_describe_db(settings.database_url)} …", flush=True)
    try:
        applied = asyncio.run(migrate(settings.database_url))
    except (OSError, ConnectionError) as exc:
        print(f"Cannot reach the database: {exc}. Is it running, and is DATABASE_URL right?", file=sys.stderr)
        return 1
    print(f"Done: {len(applied)} migration(s) applied." if applied else "Done: the schema is up to date.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from sanic.worker.loader import AppLoader

    from app.core.redis_client import EMBEDDED_MULTI_WORKER_ERROR
    from app.core.serving import serve

    settings = load_settings()
    if args.workers > 1 and settings.uses_embedded_redis:
        print(EMBEDDED_MULTI_WORKER_ERROR, file=sys.stderr)
        return 2
    if args.workers > 1:
        from app.core.observability import prepare_multiprocess_dir

        # Before the workers start: each writes its metrics there, and /metrics on any adds them up.
        prepare_multiprocess_dir(settings.var_dir / f"metrics-{args.port}")
    from app.factory import create_app

    # Worker processes inherit it: the development fake WeChat platform is reached on this port.
    os.environ["PORT"] = str(args.port)
    loader = AppLoader(factory=create_app)
    app = loader.load()
    serve(loader, app, host=args.host, port=args.port, workers=args.workers, motd=False)
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from app.core.workdays import OVERRIDES_FILE, WorkCalendar

    coverage = WorkCalendar.from_file().coverage()
    if args.json:
        print(json.dumps(coverage, ensure_ascii=False))
        return 0
    first, last = coverage["library_years"]
    print(f"Holidays and adjusted working days known for {coverage['first_year']}–{coverage['last_year']}:")
    print(f"  {coverage['library']}: {first}–{last}")
    print(f"  published years entered locally: {coverage['override_years'] or 'none'}")
    print(
        f"  local adjustments ({OVERRIDES_FILE.name}): {coverage['local_holidays']} day(s) off, "
        f"{coverage['local_workdays']} day(s) worked"
    )
    if dt.date.today().year + 1 > coverage["last_year"]:
        print(
            f"Deadlines running past {coverage['last_year']} count Monday to Friday only and are marked "
            "deadline_estimated: upgrade chinese-calendar, or enter the published year in the override file."
        )
    return 0


async def _with_database(settings: Settings, work):  # type: ignore[no-untyped-def]
    """Migrate (quietly, it is idempotent), open the ORM, run ``work()``, close."""
    from app.core.db import close_db, init_db, migrate

    await migrate(settings.database_url, progress=False)
    await init_db(settings.database_url)
    try:
        return await work()
    finally:
        await close_db()


def _progress(done: int, total: int) -> None:
    interactive = sys.stderr.isatty()
    if interactive or done == total or done % 50 == 0:
        end = "\r" if interactive and done < total else "\n"
        print(f"  writing items {done}/{total}", end=end, file=sys.stderr, flush=True)


def cmd_catalog_load(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.catalog import SEED_DIR, CatalogError, catalog_files, import_catalog

    settings = load_settings()
    path = Path(args.path) if args.path else SEED_DIR
    dry_run = bool(getattr(args, "dry_run", False))
    try:
        files = catalog_files(path)
        print(f"Validating {len(files)} file(s) under {path} …", file=sys.stderr, flush=True)
        result = asyncio.run(
            _with_database(settings, lambda: import_catalog(files, path.name, dry_run=dry_run, progress=_progress))
        )
    except CatalogError as exc:
        _print_problems("Nothing was loaded", exc.problems)
        print("Fix the data and load again; the database is unchanged.", file=sys.stderr)
        return 1
    report = result.report
    counts = f"{len(report.created)} created, {len(report.updated)} updated, {report.unchanged} unchanged"
    if dry_run:
        print(f"Dry run, nothing written: {counts}, {result.refused} refused.", flush=True)
        if result.problems:
            _print_problems("Refused", result.problems)
        return 1 if result.problems else 0
    print(f"Loaded: {counts}.", flush=True)
    if report.changed:
        _announce_reload(settings)
    return 0


def _print_problems(title: str, problems: list[str]) -> None:
    print(f"{title}: {len(problems)} problem(s) in the catalog data:", file=sys.stderr)
    for problem in problems[:100]:
        print(f"  - {problem}", file=sys.stderr)
    if len(problems) > 100:
        print(f"  … and {len(problems) - 100} more", file=sys.stderr)


def _announce_reload(settings: Settings) -> None:
    """Tell running servers to rebuild their assistant (they also notice the new catalog version themselves)."""
    if settings.uses_embedded_redis:
        print(
            "Running servers on the embedded Redis notice the new catalog version at their next question "
            "(or import through POST /api/v1/admin/catalog/import to reach them at once).",
            file=sys.stderr,
        )
        return
    from app.assistant.releases import publish_reload
    from app.core.redis_client import connect_redis

    async def publish() -> int:
        redis = connect_redis(settings.redis_url)
        try:
            return await publish_reload(redis)
        finally:
            await redis.aclose()

    try:
        receivers = asyncio.run(publish())
    except (OSError, ConnectionError) as exc:
        print(f"Could not tell running servers to reload ({exc}); they notice the new catalog version "
              "at their next question.", file=sys.stderr)  # fmt: skip
        return
    print(f"Told {receivers} running worker(s) to reload the assistant.", file=sys.stderr)


def cmd_catalog_export(args: argparse.Namespace) -> int:
    from app.catalog import dump_csv, dump_json, export_items

    settings = load_settings()
    items = asyncio.run(_with_database(settings, export_items))
    text = dump_json(items) if args.format == "json" else dump_csv(items)
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        print(f"Exported {len(items)} item(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


async def _assistant_ready(settings: Settings):  # type: ignore[no-untyped-def]
    """Migrate, load the seed catalog when the database has none, and build the assistant."""
    from app.assistant.releases import build_from_database
    from app.catalog import SEED_DIR, catalog_files, load_items, validate_sources
    from models import ServiceItem

    async def work():  # type: ignore[no-untyped-def]
        if not await ServiceItem.exists():
            print("The catalog is empty: loading the seed catalog first …", file=sys.stderr, flush=True)
            await load_items(validate_sources(catalog_files(SEED_DIR)), SEED_DIR.name)
        return await build_from_database()

    return await _with_database(settings, work)


def cmd_ask(args: argparse.Namespace) -> int:
    import json
    import uuid

    from app.assistant.service import MAX_TEXT_LENGTH

    settings = load_settings()
    assistant = asyncio.run(_assistant_ready(settings))

    def answer(text: str) -> dict:  # type: ignore[type-arg]
        text = text.rstrip("\n")
        if not text.strip():
            return {"error": {"code": "empty_text", "message": "text is empty"}}
        if len(text) > MAX_TEXT_LENGTH:
            return {"error": {"code": "text_too_long", "message": f"text is longer than {MAX_TEXT_LENGTH} characters"}}
        reply, _ = assistant.respond(text)
        return {"session_id": uuid.uuid4().hex, **reply.to_dict()}

    if args.batch:
        source = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")  # noqa: SIM115
        with source:
            for line in source:
                print(json.dumps(answer(line), ensure_ascii=False), flush=True)
        return 0
    if not args.text:
        print('Give a question, e.g. python -m app ask "孩子刚出生户口怎么上" --json, or --batch FILE', file=sys.stderr)
        return 2
    body = answer(args.text)
    if args.json:
        print(json.dumps(body, ensure_ascii=False))
    elif "error" in body:
        print(body["error"]["message"], file=sys.stderr)
        return 1
    else:
        print(body["reply"])
        for item in body["items"][:3]:
            print(f"  {item['score']:.2f}  {item['code']}  {item['name']}")
        if body["quick_replies"]:
            print("  [" + "] [".join(body["quick_replies"]) + "]")
    return 0 if "error" not in body else 1


def dev_sets() -> tuple[tuple[str, str, str | None], ...]:
    from intents.evaluate import DEV_SET, REAL_DEV_SET

    own, real = str(DEV_SET), str(REAL_DEV_SET)
    return (("own", own, None), ("real:tune", real, "tune"), ("real:report", real, "report"))


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from intents.evaluate import evaluate, format_report, read_rows

    settings = load_settings()
    sets = [(args.file, args.file, None)] if args.file else list(dev_sets())
    loaded = []
    for name, file, split in sets:
        path = Path(file)
        if not path.exists():
            print(f"No such file: {path}. Pass a JSONL file of {{text, expected, kind}} rows.", file=sys.stderr)
            return 2
        rows = [r for r in read_rows(path) if split is None or r.get("split") == split]
        loaded.append((name, path, rows))
    assistant = asyncio.run(_assistant_ready(settings))
    reports = [(name, path, rows, evaluate(assistant, rows)) for name, path, rows in loaded]
    if len(reports) > 1:
        # Side by side: the figures the targets are set on.
        print(f"{'':<28}" + "".join(f"{name:>13}" for name, *_ in reports))
        for key, label in (
            ("top1", "in-scope top-1"),
            ("top3", "in-scope top-3"),
            ("in_scope_declined", "in-scope declined"),
            ("clarify", "in-scope clarify"),
            ("out_of_scope_declined", "out of scope declined"),
            ("out_of_scope_handled", "OOS/complaints handled"),
        ):
            print(f"{label:<28}" + "".join(f"{r.figures[key]:>13.1%}" for *_, r in reports))
        print(
            f"{'rows (in scope / other)':<28}"
            + "".join(f"{f'{r.in_scope.rows} / {r.out_of_scope.rows}':>13}" for *_, r in reports)
        )
    for name, path, rows, report in reports:
        print(f"\n== {name}: {path} ({len(rows)} messages)")
        print(format_report(report))
        if args.baselines:
            failed = _print_baselines(assistant, rows, report)
            if failed:
                return failed
        if args.misses:
            for miss in report.misses:
                print(f"  miss [{miss['action']}] {miss['text']} → expected {miss['expected']}, got {miss['got']}")
    return 0


def _print_baselines(assistant: Any, rows: list[dict[str, Any]], report: Any) -> int:
    try:
        from intents.baselines import RankBM25Baseline, TfidfBaseline
        from intents.baselines import evaluate as evaluate_baseline
    except ImportError as exc:
        print(f"\nBaselines need the dev dependencies (make install): {exc}", file=sys.stderr)
        return 1
    intents = assistant.index.intents
    ours = report.figures
    print("\nSame training phrases, same run (top-1 / top-3 on in-scope utterances, ranking only):")

    def rank_ours(text: str, limit: int = 5) -> list[tuple[str, float]]:
        return [(c.intent.id, c.score) for c in assistant.index.search(text, limit).candidates]

    ranked = evaluate_baseline(rank_ours, rows)
    print(f"  {'ours (index ranking)':<34}{ranked['top1']:7.1%}{ranked['top3']:8.1%}")
    print(f"  {'ours (with dialog decisions)':<34}{ours['top1']:7.1%}{ours['top3']:8.1%}")
    for name, baseline in (
        ("TF-IDF char n-grams + linear", TfidfBaseline(intents)),
        ("rank_bm25 over jieba tokens", RankBM25Baseline(intents, assistant.index.analyzer)),
    ):
        figures = evaluate_baseline(baseline.rank, rows)
        print(f"  {name:<34}{figures['top1']:7.1%}{figures['top3']:8.1%}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.uses_embedded_redis:
        print(
            "The worker needs REDIS_URL: the embedded Redis lives inside one process. "
            "In development `make run` runs the worker inside the web process instead.",
            file=sys.stderr,
        )
        return 2
    from app.worker import run_worker

    asyncio.run(run_worker(settings))
    return 0


def cmd_staff_create(args: argparse.Namespace) -> int:
    import getpass
    import secrets

    from app.console.roles import ROLES

    settings = load_settings()
    if args.role not in ROLES:
        print(f"Unknown role {args.role!r}; one of: {', '.join(ROLES)}", file=sys.stderr)
        return 2
    generated = False
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password (empty: generate one): ")
        if password and password != getpass.getpass("Again: "):
            print("The two passwords differ; nothing was created.", file=sys.stderr)
            return 1
    else:
        password = ""
    if not password:
        password, generated = secrets.token_urlsafe(18), True
    if len(password) < 12:
        print("Use a password of at least 12 characters.", file=sys.stderr)
        return 1

    from app.console.accounts import create_account
    from app.core.errors import ShengshiError
    from app.core.redis_client import connect_redis
    from app.services import build_services

    async def work():  # type: ignore[no-untyped-def]
        redis = connect_redis(settings.redis_url)
        try:
            return await create_account(args.username, args.role, password, build_services(settings, redis).pii)
        except ShengshiError as exc:
            return str(exc)
        finally:
            await redis.aclose()

    made = asyncio.run(_with_database(settings, work))
    if isinstance(made, str):
        print(made + "; nothing was created.", file=sys.stderr)
        return 1
    print(f"Created staff account {args.username!r} with role {args.role}.")
    if generated:
        # Shown once; it is stored only as a hash.
        print(f"Generated password: {password}")
    # The second factor: enrol it in an authenticator app now (required outside development).
    print(f"TOTP secret (enter it in an authenticator app): {made.totp_secret}")
    print(f"TOTP enrolment address (as a QR code): {made.totp_uri}")
    return 0


def cmd_mp_menu_push(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from app.core.redis_client import connect_redis
    from app.core.wechat import WeChatError
    from app.official_account import MENU_FILE, MpConfig, load_menu_data, menu_for_wechat, push_menu
    from app.services import build_services

    settings = load_settings()
    path = Path(args.file) if args.file else MENU_FILE
    try:
        data = load_menu_data(path)
    except (OSError, ValueError) as exc:
        print(f"Cannot read the menu: {exc}", file=sys.stderr)
        return 1
    menu = menu_for_wechat(data.menu, MpConfig.from_settings(settings))
    if args.dry_run:
        print(json.dumps(menu, ensure_ascii=False, indent=2))
        return 0

    async def push() -> dict | None:
        redis = connect_redis(settings.redis_url)
        try:
            gateway = build_services(settings, redis).mp_gateway
            return None if gateway is None else await push_menu(gateway, menu)
        finally:
            await redis.aclose()

    try:
        result = asyncio.run(push())
    except WeChatError as exc:
        print(f"WeChat refused the menu: {exc.errcode} {exc.errmsg}", file=sys.stderr)
        return 1
    if result is None:
        print("Set MP_APPID and MP_SECRET (the official account's credentials) first.", file=sys.stderr)
        return 2
    print(f"Menu pushed to the official account {settings.mp_appid}: {len(menu['button'])} button(s).")
    return 0


def _describe_db(url: str) -> str:
    # Never print credentials.
    scheme, _, rest = url.partition("://")
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{host}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="省事 (shengshi) service commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="apply the committed database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("calendar", help="which years the working-day (holiday) calendar knows")
    p.add_argument("--json", action="store_true", help="print the coverage as JSON")
    p.set_defaults(func=cmd_calendar)

    catalog = sub.add_parser("catalog", help="the service catalog: load, import, export")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    p = catalog_sub.add_parser("load", help="validate, then upsert in one transaction (default: the seed data)")
    p.add_argument("path", nargs="?", help="a .yaml/.json/.csv file or a folder of them")
    p.add_argument("--dry-run", action="store_true", help="print what would be created, updated, refused")
    p.set_defaults(func=cmd_catalog_load)
    p = catalog_sub.add_parser("import", help="import a file written by 'catalog export' (json or csv)")
    p.add_argument("path")
    p.add_argument("--dry-run", action="store_true", help="print what would be created, updated, refused")
    p.set_defaults(func=cmd_catalog_load)
    p = catalog_sub.add_parser("export", help="write every item as json or csv")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_catalog_export)

    p = sub.add_parser("ask", help="ask the assistant without a server (same JSON as POST /api/v1/chat)")
    p.add_argument("text", nargs="?")
    p.add_argument("--json", action="store_true", help="print the chat JSON")
    p.add_argument("--batch", metavar="FILE", help="one utterance a line in, one JSON object a line out ('-' = stdin)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="measure the assistant on a labelled set")
    p.add_argument("--file", help="one labelled JSONL file (default: both dev sets side by side)")
    p.add_argument("--baselines", action="store_true", help="also TF-IDF + linear and rank_bm25, same phrases")
    p.add_argument("--misses", action="store_true", help="list every miss")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("worker", help="deliver notifications (outbox → stream → channels) until stopped")
    p.set_defaults(func=cmd_worker)

    staff = sub.add_parser("staff", help="staff accounts")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    p = staff_sub.add_parser("create", help="create a staff account (password typed, from stdin, or generated)")
    p.add_argument("username")
    p.add_argument("--role", required=True, help="viewer | clerk | editor | publisher | agent | admin")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(func=cmd_staff_create)

    mp = sub.add_parser("mp", help="the official account")
    mp_sub = mp.add_subparsers(dest="mp_command", required=True, metavar="ACTION")
    menu = mp_sub.add_parser("menu", help="the official account's menu")
    menu_sub = menu.add_subparsers(dest="menu_command", required=True, metavar="ACTION")
    p = menu_sub.add_parser("push", help="send the menu of app/data/mp_menu.yaml to WeChat (cgi-bin/menu/create)")
    p.add_argument("--file", help="another menu data file")
    p.add_argument("--dry-run", action="store_true", help="print the menu JSON instead of sending it")
    p.set_defaults(func=cmd_mp_menu_push)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
