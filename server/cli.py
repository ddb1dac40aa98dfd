"""The ``cosmoloc`` command: serve, worker, validate, import-labs, import-designs, demo, ledger."""
from __future__ import annotations

import os
import sys
from typing import Any

import click


@click.group()
@click.version_option(package_name="cosmoloc")
def main() -> None:
    """cosmoloc: design global, manufacture local."""


@main.command("validate")
@click.argument("files", nargs=-1, required=True)
@click.option("--unit", default="mm", show_default=True, help="Unit the files are drawn in (mm, cm, m, in).")
@click.option("--json", "as_json", is_flag=True, help="One JSON report per line, with \"file\".")
def validate_cmd(files: tuple[str, ...], unit: str, as_json: bool) -> None:
    """Check design files locally; exit 1 if any fails, 2 on a usage or I/O error."""
    from design_commons import checker
    from design_commons.units import STATED_UNITS, normalise_unit

    try:
        unit = normalise_unit(unit)
    except ValueError:
        unit = ""
    if unit not in STATED_UNITS:
        raise click.UsageError(f"--unit must be one of {', '.join(STATED_UNITS)}")
    show = len(files) > 1 and sys.stderr.isatty()
    if show:
        with click.progressbar(length=len(files), label="Checking", file=sys.stderr,
                               item_show_func=lambda n: n or "") as bar:
            def step(name: str) -> None:
                bar.update(1, name)

            code = checker.run(files, unit, as_json, progress=step)
    else:
        code = checker.run(files, unit, as_json)
    sys.exit(code)


def _serve(host: str, port: int, workers: int) -> None:
    """Run the hub under gunicorn's asyncio (ASGI) worker, the Flask app on threads behind a body buffer.

    Slow clients wait in each worker's event loop (server/asgi.py), not on the threads that serve
    others. Workers are replaced after about ``requests_per_worker`` requests (with jitter), so a
    spike's memory is given back. The control socket lives in the data dir: each hub on a host has its own.
    """
    from gunicorn.app.base import BaseApplication

    from server.config import Settings

    settings = Settings.from_env()

    class Standalone(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            recycle = settings.limit_int("requests_per_worker")
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "asgi")
            self.cfg.set("timeout", 120)
            self.cfg.set("keepalive", 15)  # idle keep-alive connections live longer than a client's pause
            self.cfg.set("max_requests", recycle)
            self.cfg.set("max_requests_jitter", max(recycle // 10, 1))
            self.cfg.set("control_socket", str(settings.data_dir / "gunicorn.ctl"))
            self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            from server.asgi import create_asgi_app

            return create_asgi_app(threads=settings.limit_int("threads_per_worker"))

    Standalone().run()


def _require_hub() -> None:
    try:
        import flask  # noqa: F401
        import gunicorn  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        _needs("hub", exc)
def _default_base_url(host: str, port: int) -> None:
    """Documents (OKH, OKW, agent configs) name the hub by COSMOLOC_BASE_URL, never by a request's Host header:
    when it is unset, the address this process serves on stands in for it."""
    if not os.environ.get("COSMOLOC_BASE_URL"):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        os.environ["COSMOLOC_BASE_URL"] = f"http://{shown}:{port}"


def _prepare() -> None:
    """Bring the schema up to date before any worker starts (SQLite and PostgreSQL alike)."""
    # Everything the hub writes (database, WAL, secret key, stored files, logs) is its user's alone.
    os.umask(0o077)
    from server.config import Settings
    from server.db import make_engine
    from server.schema import upgrade

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    if settings.redis_url:
        from server.tasks import RQRunner

        RQRunner(settings.redis_url).enqueue("resume_pending")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="gunicorn worker processes")
def serve(host: str, port: int, workers: int) -> None:
    """Run the hub (embedded default when nothing is configured)."""
    _require_hub()
    _default_base_url(host, port)
    _prepare()
    _serve(host, port, workers)


@main.command()
def worker() -> None:
    """Run a background worker on the Redis queue (COSMOLOC_REDIS_URL)."""
    _require_hub()
    url = os.environ.get("COSMOLOC_REDIS_URL")
    if not url:
        raise click.UsageError("COSMOLOC_REDIS_URL is not set: without it the hub does background work in-process.")
    from redis import Redis
    from rq import Queue, Worker

    _prepare()
    connection = Redis.from_url(url)
    Worker([Queue("cosmoloc", connection=connection)], connection=connection).work()


@main.command("import-labs")
@click.argument("files", nargs=-1, required=True)
def import_labs(files: tuple[str, ...]) -> None:
    """Add labs to the directory from OKW facility records (JSON, YAML) or a CSV list; exit 2 if a file is unusable."""
    _require_hub()
    from sqlalchemy.exc import SQLAlchemyError

    from server.config import ConfigError, Settings
    from server.fablabs import importing
    from server.hub import Hub

    try:
        sources = importing.read_sources(files)
        _prepare()
        hub = Hub(Settings.from_env())
    except (importing.ImportFileError, ConfigError, SQLAlchemyError) as exc:
        click.echo(f"cosmoloc import-labs: {exc}", err=True)
        sys.exit(2)
    try:
        with click.progressbar(length=sum(len(s.records) for s in sources), label="Importing labs",
                               file=sys.stderr) as bar:
            report = importing.import_sources(hub.db, sources, progress=bar.update)
    finally:
        hub.close()
    click.echo("\n".join(report.lines()))


@main.command("import-designs")
@click.argument("paths", nargs=-1, required=True)
@click.option("--owner", required=True, help="Email of the account that publishes the imported designs.")
def import_designs(paths: tuple[str, ...], owner: str) -> None:
    """Publish designs from OKH-LOSH manifests (okh.toml) and their local files; exit 1 if any is skipped."""
    _require_hub()
    from pathlib import Path

    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from server.accounts.models import Account
    from server.config import ConfigError, Settings
    from server.designs import importing
    from server.designs.processing import validate_stored_file
    from server.edge import DEFAULT_BASE_URL
    from server.hub import Hub

    try:
        manifests = importing.find_manifests([Path(p) for p in paths])
        _prepare()
        hub = Hub(Settings.from_env())
    except (importing.ImportFileError, ConfigError, SQLAlchemyError) as exc:
        click.echo(f"cosmoloc import-designs: {exc}", err=True)
        sys.exit(2)
    if not manifests:
        click.echo("cosmoloc import-designs: no OKH manifest (okh.toml, okh-*.toml, *.okh.toml) in "
                   + ", ".join(paths), err=True)
        sys.exit(2)
    try:
        with hub.db.session() as session:
            account = session.scalar(select(Account).where(Account.email == owner.strip().lower()))
            if account is None:
                click.echo(f"cosmoloc import-designs: no account with the email {owner}", err=True)
                sys.exit(2)
            with click.progressbar(length=len(manifests), label="Importing designs", file=sys.stderr) as bar:
                summary = importing.import_manifests(
                    session, hub.store, account, manifests, hub.settings.base_url or DEFAULT_BASE_URL,
                    max_description=hub.settings.limit_int("description_chars"), progress=bar.update,
                    after_each=session.commit)
            files = [(item, f.id, f.filename) for item in summary.imported
                     for v in item.design.versions for f in v.files]
        verdicts: dict[int, str] = {}
        with click.progressbar(files, label="Checking files", file=sys.stderr) as checking:
            for _item, file_id, _name in checking:
                verdicts[file_id] = validate_stored_file(hub.db, hub.store, hub.limits, file_id,
                                                         slots=hub.sandboxes) or "checked before"
    finally:
        hub.close()
    click.echo("\n".join(summary.lines()))
    for item, file_id, name in files:
        click.echo(f"  design {item.design.id} {name}: {verdicts.get(file_id, 'pending')}")
    sys.exit(1 if summary.skipped else 0)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def demo(host: str, port: int) -> None:
    """Run the hub with demo designs and demo labs whose simulated agents make what is ordered."""
    _require_hub()
    from server.config import Settings
    from server.demo import seed
    from server.demo_labs import seed_labs, start_agents

    os.environ.setdefault("COSMOLOC_POLL_INTERVAL_S", "3")  # demo agents answer within seconds
    _default_base_url(host, port)
    _prepare()
    say = lambda msg: click.echo(msg, err=True)  # noqa: E731
    seed(progress=say)
    configs = seed_labs(Settings.from_env(), f"http://{host}:{port}", progress=say)
    start_agents(configs)
    say(f"started {len(configs)} simulated lab agents (logs under the data dir's demo-agents/)")
    say(f"cosmoloc demo: http://{host}:{port}/")
    say("  designer: demo@cosmoloc.example / demo-lathe-kettle   operator: operator@cosmoloc.example / demo-lathe-kettle")
    _serve(host, port, 1)


@main.group()
def ledger() -> None:
    """The commons ledger: check a hub's chain and receipts, or export it."""


def _read_chain(hub_url: str | None, export: str | None) -> tuple[list[Any], str | None]:
    from server.ledger import sources

    if hub_url and export:
        raise click.UsageError("give --hub or --export, not both")
    try:
        if hub_url:
            return sources.from_hub(hub_url)
        if export:
            return sources.from_file(export)
        _require_hub()
        return sources.from_database()
    except sources.SourceError as exc:
        click.echo(f"cosmoloc ledger: {exc}", err=True)
        sys.exit(2)


@ledger.command("verify")
@click.option("--hub", "hub_url", metavar="URL", help="A hub to download the chain from (GET /api/v1/ledger/events).")
@click.option("--export", metavar="FILE", help="A file exported by `cosmoloc ledger export` or the API.")
def ledger_verify(hub_url: str | None, export: str | None) -> None:
    """Replay the chain (every hash, no gap, the head) and recompute every receipt; exit 1 where anything differs.

    Without --hub or --export, the chain in this hub's own database (COSMOLOC_DATABASE_URL) is checked.
    """
    from design_commons.ledger import recompute

    events, head = _read_chain(hub_url, export)
    replay = recompute(events, head=head)
    for problem in replay.problems[:100]:
        click.echo(str(problem))
    if len(replay.problems) > 100:
        click.echo(f"... and {len(replay.problems) - 100} more")
    verdict = "intact" if replay.ok else f"{len(replay.problems)} problem{'s' if len(replay.problems) != 1 else ''}"
    click.echo(f"{replay.count} events, {len(replay.receipts)} receipts recomputed, head {replay.head}: {verdict}")
    sys.exit(0 if replay.ok else 1)


@ledger.command("export")
@click.option("--hub", "hub_url", metavar="URL", help="A hub to download the chain from.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["json", "valueflows"]), default="json", show_default=True,
              help="json: the chain as the API exports it; valueflows: JSON-LD in the Valueflows vocabulary.")
@click.option("--base-url", metavar="URL", help="The hub's address in the Valueflows IRIs (default: --hub or COSMOLOC_BASE_URL).")
def ledger_export(hub_url: str | None, output: str | None, fmt: str, base_url: str | None) -> None:
    """Write the whole chain: as JSON ({"items": [...], "head"}) for `cosmoloc ledger verify --export`, or as
    Valueflows JSON-LD (economic events, claims triggered by their receipt, agents, resources)."""
    import json

    from design_commons.ledger import GENESIS
    from design_commons.ledger.valueflows import export

    events, head = _read_chain(hub_url, None)
    if fmt == "valueflows":
        base = base_url or hub_url or os.environ.get("COSMOLOC_BASE_URL") or "http://127.0.0.1:5000"
        doc = export(events, base)
    else:
        doc = {"items": events, "head": head or (events[-1]["hash"] if events else GENESIS)}
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        click.echo(text)


def _needs(extra: str, exc: ImportError) -> None:
    """Stop with a clear word when a command's extra is not installed (``pip install cosmoloc`` is the library alone)."""
    click.echo(f"cosmoloc: this command needs the '{extra}' extra ({exc.name} is missing): "
               f"pip install 'cosmoloc[{extra}]'", err=True)
    sys.exit(2)


def _register_agent() -> None:
    try:
        from fablab_nodes.cli import agent
    except ImportError as exc:
        missing = exc

        @main.command("agent", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
        def agent_missing() -> None:
            """Run a fablab agent (needs the 'agent' extra)."""
            _needs("agent", missing)

        return
    main.add_command(agent)


_register_agent()

if __name__ == "__main__":
    main()
