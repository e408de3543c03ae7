"""``station report`` and ``station trace``: batch reports and one serial's history.

Errors follow the CLI's rules: one line, a hint, exit 3, never a traceback
(:func:`station.cli.common.friendly_errors`).

Where a report goes (docs/reports.md):

* ``--format html`` (the default) and ``pdf``: to ``./report-<batch>.<ext>``; the command
  prints where it wrote it and a one-line summary;
* ``--format csv`` and ``json``: to standard output, so they pipe into scripts;
* ``-o FILE`` writes any format to FILE; ``-o -`` writes any format to standard output.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from station import render
from station.cli.common import friendly_errors, main
from station.errors import ConfigError

if TYPE_CHECKING:
    from station.config import CloudConfig
    from station.reports.data import BatchReport, SerialTrace

FORMATS = ("html", "csv", "json", "pdf")
"""``station.reports.formats.FORMATS``, repeated so that ``station --help`` need not import
the report machinery (a test keeps the two equal)."""
TO_STDOUT = ("csv", "json")
"""Formats written to standard output when no ``-o`` is given."""


def _friendly(function: Callable[[], None]) -> None:
    """Run ``function`` under the CLI's error handling."""
    friendly_errors(function)()


@main.command("report")
@click.option("--batch", "batch_id", required=True, help="The batch to report on.")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True,
    help="html and pdf go to ./report-<batch>.<ext>, csv and json to standard output.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
    help="Write to this file instead ('-' for standard output).",
)
@click.option(
    "--source", type=click.Choice(["station", "cloud"]), default="station", show_default=True,
    help="station: this station's database. cloud: the DynamoDB table (batch-index); "
    "only counts the cloud knows.",
)
@click.option("--table", help="With --source cloud: the DynamoDB table (default: [cloud] table).")
@click.option("--region", help="With --source cloud: the AWS region (default: [cloud] region).")
@click.option(
    "--endpoint-url", help="With --source cloud: a DynamoDB-compatible endpoint (local tests)."
)
@click.option("--no-units", is_flag=True, help="Leave the unit list out (summary only).")
@click.pass_obj
def report_command(
    obj: Any, batch_id: str, fmt: str, output: str | None, source: str, table: str | None,
    region: str | None, endpoint_url: str | None, no_units: bool,
) -> None:
    """A batch report: counts, yields, failure Pareto, cycle times, throughput, units.

    With --source cloud and --table, no station.ini is needed (QA away from the line)."""

    def run() -> None:
        from station.reports.data import ReportError, build_report
        from station.reports.formats import ONE_PASS, report_filename, save_report, write_report

        if source == "cloud":
            from station.reports.cloud_source import cloud_report_for_station

            cloud, station_id = _cloud_settings(obj, table, region)
            report = cloud_report_for_station(
                cloud, batch_id, table=table, endpoint_url=endpoint_url,
                station_id=station_id, include_units=not no_units,
            )
        else:
            if table or endpoint_url or region:
                raise ReportError(
                    "--table, --region and --endpoint-url only apply to --source cloud",
                    code="REPORT_OPTION_INVALID",
                    hint="Add --source cloud, or leave those options out.",
                )
            station = obj.station(read_only=True)
            station_id = station.config.station_id
            report = build_report(
                station.records, batch_id, include_units=not no_units, station_id=station_id,
                stream_units=fmt in ONE_PASS,
            )
        target = output
        if target is None:
            target = "-" if fmt in TO_STDOUT else report_filename(batch_id, fmt)
        if target == "-":
            stream = click.get_binary_stream("stdout")
            write_report(report, fmt, stream)
            stream.flush()
            return
        path = Path(target)
        save_report(report, fmt, path, hint="Choose another file with -o FILE (a folder you can write to).")
        click.echo(f"{fmt.upper()} report of batch {batch_id} ({report.header.source}) "
                   f"written to {path}")
        click.echo(summary_line(report))

    _friendly(run)


@main.command("trace")
@click.argument("serial")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
@click.pass_obj
def trace_command(obj: Any, serial: str, as_json: bool) -> None:
    """Everything about one serial: its unit, every attempt with step timings, its audit."""

    def run() -> None:
        from station.reports.data import build_trace
        from station.reports.formats import render_trace_json

        trace = build_trace(obj.station(read_only=True).records, serial)
        if as_json:
            stream = click.get_binary_stream("stdout")
            stream.write(render_trace_json(trace))
            stream.flush()
        else:
            click.echo(trace_text(trace))

    _friendly(run)


def _cloud_settings(obj: Any, table: str | None, region: str | None) -> tuple[CloudConfig, str | None]:
    """``[cloud]`` of this station (with --region applied), or, when there is no station.ini
    and --table names the table, settings from the options and the AWS environment."""
    from station.config import CloudConfig

    try:
        config = obj.station(read_only=True).config
    except ConfigError as exc:
        if exc.code != "CONFIG_MISSING" or not table:
            raise
        return CloudConfig(table=table, region=region), None
    cloud = config.cloud
    if region:
        cloud = dataclasses.replace(cloud, region=region)
    return cloud, config.station_id


def summary_line(report: BatchReport) -> str:
    c = report.counts
    if report.is_empty:
        return f"{report.header.batch}: no attempts yet (the report says so)."
    if report.header.source == "cloud":
        return (f"{report.header.batch} in the cloud: {c.units_passed} units, "
                f"{c.units_revoked} revoked, {c.units_provisioned} provisioned "
                "(attempts, failures and yields are only known to the station)")
    return (
        f"{report.header.batch}: {c.units_attempted} units attempted, {c.units_passed} PASS, "
        + (f"{c.units_revoked} revoked, " if c.units_revoked else "")
        + f"{c.units_failed} FAIL, {c.units_retested} re-tested, first-pass yield "
        f"{_pct(c.first_pass_yield)}, final yield {_pct(c.final_yield)}; "
        f"{c.attempts} attempts ({c.attempts_without_serial} without a serial)"
    )


def trace_text(trace: SerialTrace) -> str:
    lines = []
    unit = trace.unit
    if unit is not None:
        lines += [
            f"{trace.serial}: {unit.status.upper()} in batch {unit.batch} ({unit.product})",
            f"  device key sha256  {unit.device_key_sha256}",
            f"  claim cert sha256  {unit.claim_cert_sha256}",
            f"  first/last PASS    {unit.first_pass_at} / {unit.last_pass_at}",
            f"  station, operator  {unit.station_id}, {unit.operator}",
            f"  sync               rev {unit.rev}, synced {unit.synced_rev} "
            f"({'synced' if unit.synced_rev >= unit.rev else 'pending'})",
        ]
        if unit.revoked_reason:
            lines.append(f"  revoked because    {unit.revoked_reason}")
    else:
        lines.append(f"{trace.serial}: never passed (no allow-list row)")
    lines.append(f"  batches            {', '.join(trace.batches) or '-'}")
    lines.append("")
    lines.append(f"attempts ({len(trace.attempts)}, oldest first):")
    for attempt in trace.attempts:
        took = _took(attempt.started_at, attempt.finished_at)
        outcome = attempt.result.upper() + (f" {attempt.error_code}" if attempt.error_code else "")
        lines.append(
            f"  #{attempt.id}  {attempt.started_at} -> {attempt.finished_at or '(running)'}  "
            f"{took}  {outcome}"
        )
        lines.append(
            f"      batch {attempt.batch or '-'}, port {attempt.port}, station "
            f"{attempt.station_id}, operator {attempt.operator}, driver {attempt.driver}"
        )
        if attempt.device_key_sha256:
            lines.append(f"      device key sha256 {attempt.device_key_sha256}")
        if attempt.error_detail:
            lines.append(f"      what happened: {attempt.error_detail}")
        if attempt.hint:
            lines.append(f"      hint: {attempt.hint}")
        if attempt.reprovision_by:
            lines.append(f"      re-provision allowed by {attempt.reprovision_by}: "
                         f"{attempt.reprovision_reason}")
        if attempt.steps:
            table = render.table(
                ["step", "started", "ms", "ok", "retries", "code"],
                [(s.name, s.started_at, f"{s.duration_ms:.1f}", "ok" if s.ok else "FAIL",
                  s.retries, s.error_code or "") for s in attempt.steps],
            )
            lines += ["      " + line for line in table.splitlines()]
    lines.append("")
    lines.append(f"labels ({len(trace.labels)}):")
    for label in trace.labels:
        lines.append(f"  {label.requested_at}  {label.kind}  by {label.requested_by}  {label.state}"
                     + (f" {label.printed_at}" if label.printed_at else "")
                     + (f"  ({label.last_code})" if label.last_code else ""))
    lines.append("")
    lines.append(f"audit ({len(trace.audit)}):")
    for entry in trace.audit:
        lines.append(f"  #{entry.id}  {entry.at}  {entry.actor}  {entry.action}  "
                     f"{json.dumps(entry.details, sort_keys=True, ensure_ascii=False)}")
    return "\n".join(lines)


def _took(started: str | None, finished: str | None) -> str:
    from station.reports.formats import duration_ms

    ms = duration_ms(started, finished)
    return "" if ms is None else render.duration(ms)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"
