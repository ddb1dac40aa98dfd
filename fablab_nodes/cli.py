"""``cosmoloc agent``: run a lab's agent, or act on its jobs by hand.

::

    cosmoloc agent --config lab.toml                      run the loop
    cosmoloc agent jobs --config lab.toml                 offered jobs, and the jobs in hand
    cosmoloc agent accept JOB [--machine KEY] --config lab.toml
    cosmoloc agent decline JOB --reason TEXT --config lab.toml
    cosmoloc agent done JOB [--note TEXT] --config lab.toml
    cosmoloc agent fail JOB --reason TEXT --config lab.toml

Exit codes: 0 done (or queued in the outbox while the hub is unreachable: the running agent
delivers it); 1 the hub refused it, or the job is not in a state for it; 2 a usage or config
error, or the hub could not be reached for something that needs it now.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from fablab_nodes.config import AgentConfig, ConfigError, install_redaction, load_config
from fablab_nodes.drivers import OctoPrintDriver, RecordedDriver
from fablab_nodes.fitting import Fit, check_machine
from fablab_nodes.hub_client import HubClient, HubRejected, HubUnavailable
from fablab_nodes.jobs import Job, JobState
from fablab_nodes.ledger import ACTIVE_PHASES, Phase
from fablab_nodes.outbox import ReportStatus
from fablab_nodes.runner import Runner

F = TypeVar("F", bound=Callable[..., Any])
_META_KEY = "cosmoloc.agent.config"


class AgentUsageError(click.ClickException):
    """A usage, config or I/O problem: exit code 2."""

    exit_code = 2


class Refused(click.ClickException):
    """The hub refused, or the job is not in a state for it: exit code 1."""

    exit_code = 1


def _config_option(f: F) -> F:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="The lab's agent TOML file.")(f)


def _load(ctx: click.Context, config_path: Path | None, verbose: int = 0) -> AgentConfig:
    path = config_path or ctx.meta.get(_META_KEY)
    verbose = verbose or ctx.meta.get(_META_KEY + ".verbose", 0)
    if path is None:
        raise AgentUsageError("Missing option '--config' (the lab's agent TOML file).")
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise AgentUsageError(str(exc)) from None
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("fablab_nodes").setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    install_redaction(config.token)
    return config


def _runner(config: AgentConfig) -> Runner:
    """A runner for one command: few retries, so the operator hears back soon."""
    return Runner(config, client=HubClient(config.hub, config.token, retries=1, backoff_s=0.5))


@click.group(invoke_without_command=True)
@_config_option
@click.option("-v", "--verbose", count=True, help="More log lines (-vv: debug).")
@click.pass_context
def agent(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """Run a fablab agent (no subcommand), or act on its jobs by hand."""
    if config_path is not None:
        ctx.meta[_META_KEY] = config_path
    ctx.meta[_META_KEY + ".verbose"] = verbose
    if ctx.invoked_subcommand is not None:
        return
    config = _load(ctx, config_path, verbose)
    runner = Runner(config)
    try:
        runner.run()
    finally:
        runner.close()


@agent.command("jobs")
@_config_option
@click.pass_context
def jobs_cmd(ctx: click.Context, config_path: Path | None) -> None:
    """List the jobs offered to this lab, and the jobs in hand here."""
    runner = _runner(_load(ctx, config_path))
    try:
        offered = [Job.from_hub(j) for j in runner.client.jobs(state=JobState.OFFERED.value)]
    except HubUnavailable as exc:
        raise AgentUsageError(f"cannot reach the hub at {runner.config.hub}: {exc}") from None
    except HubRejected as exc:
        raise Refused(str(exc)) from None
    click.echo(f"offered ({len(offered)}):")
    for job in offered:
        fit = runner.choose_machine(job, require_free=False)
        verdict = f"fits {fit.machine_key}" if fit and fit.ok else (fit.reason if fit else "no machines")
        req = job.file.requirements
        size = "x".join(f"{v:g}" for v in (req.bbox_mm or req.sheet_mm or ()))
        click.echo(f"  {job.id}  {job.title or job.file.filename}  {job.quantity} x {job.material}"
                   f"  {size + ' mm' if size else ''}  expires {job.expires_at or '?'}  [{verdict}]")
    in_hand = runner.ledger.active()
    click.echo(f"in hand ({len(in_hand)}):")
    for lj in in_hand:
        pct = f"{lj.last_percent:.0f}%" if lj.last_percent is not None else "-"
        click.echo(f"  {lj.job_id}  {lj.job.title or lj.job.file.filename}  on {lj.machine_key}"
                   f"  {lj.phase.value}  {pct}")
    waiting = len(runner.outbox.pending())
    if waiting:
        click.echo(f"{waiting} report(s) wait in the outbox")


def _delivered(runner: Runner, report_id: int) -> ReportStatus | None:
    runner.deliver()
    return runner.outbox.status(report_id)


@agent.command("accept")
@click.argument("job_id")
@click.option("--machine", "machine_key", help="The machine to make it on (default: the first that can).")
@_config_option
@click.pass_context
def accept_cmd(ctx: click.Context, job_id: str, machine_key: str | None, config_path: Path | None) -> None:
    """Accept an offered job."""
    runner = _runner(_load(ctx, config_path))
    if machine_key is not None and runner.config.machine(machine_key) is None:
        keys = ", ".join(m.key for m in runner.config.machines)
        raise AgentUsageError(f"no machine {machine_key!r} in the config (machines: {keys})")
    known = runner.ledger.get(job_id)
    if known is not None:
        raise Refused(f"job {job_id} is already {known.phase.value} here")
    try:
        job = Job.from_hub(runner.client.job(job_id))
    except HubUnavailable as exc:
        raise AgentUsageError(f"cannot reach the hub to read job {job_id}: {exc}") from None
    except HubRejected as exc:
        raise Refused(str(exc)) from None
    if job.state is not JobState.OFFERED:
        raise Refused(f"job {job_id} is {job.state.value}, not offered")
    fit: Fit | None
    if machine_key is not None:
        cfg = runner.config.machine(machine_key)
        assert cfg is not None
        fit = check_machine(cfg, job)
    else:
        fit = runner.choose_machine(job, require_free=False)
    if fit is None or not fit.ok:
        raise Refused(f"cannot accept job {job_id}: {fit.reason if fit else 'no machines'}")
    local = runner.ledger.accept(job, fit.machine_key)
    status = _delivered(runner, local.accept_report_id or 0)
    if status is ReportStatus.DROPPED:
        runner.ledger.move(job_id, Phase.ABANDONED, {Phase.ACCEPTING}, reason="the hub refused the accept")
        raise Refused(f"the hub refused the accept of job {job_id} (no longer offered?)")
    _say(status, f"accepted job {job_id} on {fit.machine_key}")


@agent.command("decline")
@click.argument("job_id")
@click.option("--reason", required=True, help="Why, for the hub and the citizen.")
@_config_option
@click.pass_context
def decline_cmd(ctx: click.Context, job_id: str, reason: str, config_path: Path | None) -> None:
    """Decline an offered job."""
    runner = _runner(_load(ctx, config_path))
    known = runner.ledger.get(job_id)
    if known is not None:
        raise Refused(f"job {job_id} is already {known.phase.value} here")
    try:
        job = Job.from_hub(runner.client.job(job_id))
    except HubUnavailable:
        job = Job.from_json({"id": job_id, "state": "offered"})
    except HubRejected as exc:
        raise Refused(str(exc)) from None
    if job.state is not JobState.OFFERED:
        raise Refused(f"job {job_id} is {job.state.value}, not offered")
    status = _delivered(runner, runner.ledger.decline(job, reason))
    if status is ReportStatus.DROPPED:
        raise Refused(f"the hub refused the decline of job {job_id}")
    _say(status, f"declined job {job_id}")


def _finish(ctx: click.Context, config_path: Path | None, job_id: str, ok: bool, text: str) -> None:
    runner = _runner(_load(ctx, config_path))
    local = runner.ledger.get(job_id)
    if local is None or local.phase not in ACTIVE_PHASES:
        state = local.phase.value if local else "not accepted here"
        raise Refused(f"job {job_id} is not in hand here ({state})")
    driver = runner.drivers.get(local.machine_key or "")
    if isinstance(driver, RecordedDriver | OctoPrintDriver):  # drivers that keep a record of the job
        driver.close(job_id, "done" if ok else "failed", "" if ok else text)
    if not runner.ledger.finish(job_id, ok=ok, reason="" if ok else text, note=text if ok and text else None):
        raise Refused(f"job {job_id} was already ended")
    report = runner.outbox.reports(job_id)[-1]
    status = _delivered(runner, report.id)
    if status is ReportStatus.DROPPED:
        raise Refused(f"the hub refused the report for job {job_id}: {runner.outbox.reports(job_id)[-1].note}")
    _say(status, f"job {job_id} reported {'completed' if ok else 'failed'}")


@agent.command("done")
@click.argument("job_id")
@click.option("--note", default="", help="A note for the citizen.")
@_config_option
@click.pass_context
def done_cmd(ctx: click.Context, job_id: str, note: str, config_path: Path | None) -> None:
    """Mark a job in hand as made (completes it on the hub)."""
    _finish(ctx, config_path, job_id, True, note)


@agent.command("fail")
@click.argument("job_id")
@click.option("--reason", required=True, help="What went wrong.")
@_config_option
@click.pass_context
def fail_cmd(ctx: click.Context, job_id: str, reason: str, config_path: Path | None) -> None:
    """Mark a job in hand as failed."""
    _finish(ctx, config_path, job_id, False, reason)


def _say(status: ReportStatus | None, done_text: str) -> None:
    if status is ReportStatus.DELIVERED:
        click.echo(done_text)
    else:
        click.echo(f"{done_text} (queued: the hub is unreachable now; the running agent will deliver it)")
