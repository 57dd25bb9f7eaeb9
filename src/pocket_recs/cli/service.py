"""``pocket-recs serve``, ``pocket-recs worker`` and ``pocket-recs users``: the training service."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from pocket_recs.cli.render import console, print_table

SETTINGS_FILE_VARIABLE = "POCKET_RECS_SETTINGS_FILE"

SettingsFile = Annotated[
    Path | None,
    typer.Option("--settings", exists=True, dir_okay=False, help="YAML/TOML file of service settings "
                 "(keys as ServiceSettings; POCKET_RECS_* variables are read too)."),
]

users_app = typer.Typer(help="Accounts of the training service (created by an administrator).", no_args_is_help=True)


def _logging(verbose: int, quiet: bool) -> None:
    from pocket_recs.cli.app import setup_logging

    setup_logging(verbose, quiet)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web processes (each serves the current model).")] = 1,
    settings_file: SettingsFile = None,
    demo: Annotated[bool, typer.Option("--demo", help="Demo mode: a demo account and sample data.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Run the HTTP API and web UI (uvicorn). With the default settings the process also runs
    the training jobs; set POCKET_RECS_BROKER_URL to use separate `pocket-recs worker`s."""
    import uvicorn

    from pocket_recs.service.app import create_app
    from pocket_recs.service.processes import reuse_port_supported, serve_processes
    from pocket_recs.service.settings import load_settings

    _logging(verbose, quiet)
    settings = load_settings(settings_file, demo=demo or None)
    console.print(f"pocket-recs service on http://{host}:{port} (database {settings.database.split('://')[0]}, "
                  f"broker {settings.broker_url.split('://')[0]}{', demo mode' if settings.demo else ''})")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning" if quiet else "info")
        return
    if settings.embedded_worker:
        raise typer.BadParameter(
            "several web processes cannot share the in-memory job queue; set POCKET_RECS_BROKER_URL "
            "(RabbitMQ or Redis) and run `pocket-recs worker`, or POCKET_RECS_IN_PROCESS_WORKER=false "
            "to only serve", param_hint="--workers")
    # Several processes build their app from the environment (see app_from_environment).
    if settings_file is not None:
        os.environ[SETTINGS_FILE_VARIABLE] = str(settings_file.resolve())
    if demo:
        os.environ["POCKET_RECS_DEMO"] = "1"
    factory, log_level = "pocket_recs.service.app:app_from_environment", "warning" if quiet else "info"
    if reuse_port_supported():  # a socket per process: connections spread evenly (see processes.py)
        raise typer.Exit(serve_processes(factory, host=host, port=port, workers=workers, log_level=log_level))
    uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, log_level=log_level)


def worker(
    threads: Annotated[int | None, typer.Option(min=1, help="Jobs run at once (default: worker_threads).")] = None,
    settings_file: SettingsFile = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Run training jobs from the broker (POCKET_RECS_BROKER_URL) until stopped (Ctrl-C/SIGTERM)."""
    from pocket_recs.service.settings import load_settings
    from pocket_recs.service.state import ServiceState

    _logging(verbose, quiet)
    settings = load_settings(settings_file, in_process_worker=False, scheduler=False)
    if settings.broker_url.startswith("memory://"):
        raise typer.BadParameter("the in-memory broker only reaches its own process; set POCKET_RECS_BROKER_URL "
                                 "to amqp://... or redis://... (or just run `pocket-recs serve`)")
    state = ServiceState(settings)
    state.start()
    state.queue.start_worker(threads)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    console.print(f"worker consuming jobs from {settings.broker_url.split('@')[-1]}; Ctrl-C stops it")
    stop.wait()
    state.stop()


@users_app.command("create")
def create_user_command(
    email: Annotated[str, typer.Argument(help="The login (an email address).")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="The password (asked for when not given).")],
    admin: Annotated[bool, typer.Option("--admin", help="May promote any version and roll back.")] = False,
    settings_file: SettingsFile = None,
) -> None:
    """Create an account of the training service."""
    from pocket_recs.service.db import make_engine, make_sessions, migrate
    from pocket_recs.service.security import create_user
    from pocket_recs.service.settings import load_settings

    settings = load_settings(settings_file)
    engine = make_engine(settings.database)
    migrate(engine)
    with make_sessions(engine)() as session:
        user = create_user(session, email, password, is_admin=admin)
    console.print(f"created user {user.email}{' (admin)' if user.is_admin else ''}")


@users_app.command("list")
def list_users_command(settings_file: SettingsFile = None) -> None:
    """List the accounts of the training service."""
    from sqlalchemy import select

    from pocket_recs.service.db import User, make_engine, make_sessions, migrate
    from pocket_recs.service.settings import load_settings

    engine = make_engine(load_settings(settings_file).database)
    migrate(engine)
    with make_sessions(engine)() as session:
        rows = [[u.email, "yes" if u.is_admin else "", u.created_at.isoformat()[:19]]
                for u in session.scalars(select(User).order_by(User.id))]
    print_table("users", ["email", "admin", "created_at"], rows)
