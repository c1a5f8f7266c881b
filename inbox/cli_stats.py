"""``inbox stats``: support metrics as a table, JSON, CSV or a one-page HTML report."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import click

from inbox import views
from inbox.cli import Context, Cutoff, domain_errors, emit_json
from inbox.spans import parse_day
from inbox.stats import COLUMNS, GROUPINGS, StatsError, build_report, row_values
from inbox.stats_html import render
from inbox.store import now_utc


class SchoolDay(Cutoff):
    """A span before now, or a date: the school's day, which the report's daily chart shows
    (in Almaty a thread at 02:00 on Monday is Monday's, though it is Sunday in UTC)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime | date:
        day = parse_day(value) if isinstance(value, str) else None
        return day if day is not None else super().convert(value, param, ctx)


@click.command()
@click.option("--since", type=SchoolDay("hdw"), default="7d", show_default=True,
              help="Threads created since: a span (24h, 7d, 2w) or a date (2026-11-01).")
@click.option("--by", type=click.Choice(GROUPINGS), help="One row per agent, team, ...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one row per group, then total).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a one-page HTML report with charts to FILE (works offline).")
@click.pass_obj
@domain_errors
def stats(obj: Context, since: datetime | date, by: str | None, as_json: bool, as_csv: bool,
          html_file: Path | None) -> None:
    """Support metrics: volume, response times, SLA, reopen, FAQ, satisfaction, backlog.

    \b
    Example:
      inbox stats --since 30d --by agent
      inbox stats --since 2026-09-01 --by channel --html report.html
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    now = now_utc()
    if not isinstance(since, datetime):
        since = datetime.combine(since, time.min, obj.config.calendar.zone)
    try:
        report = build_report(obj.report_store, obj.config, since, now, by, now)
    except StatsError as exc:
        raise click.ClickException(str(exc)) from None
    if html_file is not None:
        html_file.write_text(render(report, obj.config.school.name), encoding="utf-8")
    rows = [row_values(m) for m in (*report.groups, report.total)]
    if as_json:
        emit_json(report.as_json())
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
    else:
        click.echo(views.table([c.upper() for c in COLUMNS],
                               [["–" if v is None else v for v in row] for row in rows]))
        click.echo("backlog: " + ", ".join(f"{k} {v}" for k, v in report.backlog.items()))
    if html_file is not None:
        click.echo(f"report written to {html_file}", err=True)
