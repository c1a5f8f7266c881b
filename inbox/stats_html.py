"""The ``inbox stats --html`` page: one self-contained file a director opens offline.

Charts are inline SVG drawn here (volume by day and channel, first-response
distribution, SLA met % per group); styles are inline; there is no script and
nothing is fetched from the network, so the file works from a USB stick.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from inbox.stats import COLUMNS, Report, row_values

PALETTE = ("#2f6db5", "#e07b39", "#3a9d5d", "#b54a8f", "#7d6bc2", "#c9a227")
STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em}
th{background:#f2f2f2}td.n{text-align:right}svg text{font:12px system-ui,sans-serif}
"""


def render(report: Report, school: str) -> str:
    """The whole page as text (UTF-8 when written)."""
    period = f"{report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC"
    t = report.total
    summary = [
        ("Threads opened", t.opened), ("Closed", t.closed),
        ("First response, median / p90 (min)", f"{_v(t.first_response.median)} /"
                                                 f" {_v(t.first_response.p90)}"),
        ("Resolution, median / p90 (min)", f"{_v(t.resolution.median)} / {_v(t.resolution.p90)}"),
        ("SLA met", _pct(t.sla_met_pct)), ("Reopened", _pct(t.reopen_rate)),
        ("Repeat contacts (7 days)", t.repeat_contacts),
        ("Solved by FAQ answers", _pct(t.faq_deflection_rate)),
        ("Satisfaction (1–5)", _v(t.csat_average)),
        ("Survey response rate", _pct(t.csat_response_rate)),
    ]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(school)} — support report</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(school)} — support report</h1><p>{escape(period)}</p>",
        "<h2>Summary</h2>", _table(["", ""], [[k, v] for k, v in summary]),
        "<h2>Threads opened per day and channel</h2>", _stacked_bars(report.daily),
        "<h2>Time to first response</h2>",
        _bars(list(report.first_response_histogram.items()), "threads"),
    ]
    if report.groups:
        parts += [f"<h2>SLA met % by {escape(report.by)}</h2>",
                  _bars([(g.key, g.sla_met_pct) for g in report.groups], "%", top=100),
                  f"<h2>By {escape(report.by)}</h2>",
                  _table(list(COLUMNS), [row_values(g) for g in report.groups])]
    parts += ["<h2>Backlog now, by age</h2>", _bars(list(report.backlog.items()), "threads"),
              "</body></html>"]
    return "\n".join(parts) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_v(c)}</td>' if isinstance(c, int | float) or c is None
            else f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _bars(items: Sequence[tuple[str, float | None]], unit: str, top: float | None = None) -> str:
    """Horizontal bars, one per item, value written at the end."""
    if not items:
        return "<p>No data.</p>"
    biggest = top or max((v or 0) for _, v in items) or 1
    width, row = 420, 22
    svg = [f'<svg width="{width + 220}" height="{row * len(items) + 6}"'
           f' role="img" aria-label="bar chart">']
    for n, (label, value) in enumerate(items):
        y = n * row + 3
        length = 0 if value is None else width * value / biggest
        svg.append(f'<text x="0" y="{y + 15}">{escape(str(label))}</text>'
                   f'<rect x="120" y="{y}" width="{length:.1f}" height="{row - 6}"'
                   f' fill="{PALETTE[0]}"/><text x="{126 + length:.1f}" y="{y + 15}">'
                   f"{_v(value)} {escape(unit)}</text>")
    return "".join(svg) + "</svg>"


def _stacked_bars(daily: dict[str, dict[str, int]]) -> str:
    """One column per day, stacked by channel, with a legend."""
    if not daily:
        return "<p>No threads in this period.</p>"
    channels = sorted({c for counts in daily.values() for c in counts})
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(channels)}
    peak = max(sum(counts.values()) for counts in daily.values())
    height, column = 180, max(8, min(40, 700 // len(daily)))
    svg = [f'<svg width="{column * len(daily) + 60}" height="{height + 60}" role="img"'
           ' aria-label="threads per day">']
    for n, (day, counts) in enumerate(daily.items()):
        x, y = 30 + n * column, height + 10
        for channel in channels:
            size = height * counts.get(channel, 0) / peak
            y -= size
            svg.append(f'<rect x="{x}" y="{y:.1f}" width="{column - 2}" height="{size:.1f}"'
                       f' fill="{colour[channel]}"><title>{escape(day)} {escape(channel)}:'
                       f" {counts.get(channel, 0)}</title></rect>")
        if n % max(1, len(daily) // 8) == 0:
            svg.append(f'<text x="{x}" y="{height + 26}">{escape(day[5:])}</text>')
    svg.append(f'<text x="0" y="14">{peak}</text>')
    for n, channel in enumerate(channels):
        svg.append(f'<rect x="{30 + n * 110}" y="{height + 36}" width="12" height="12"'
                   f' fill="{colour[channel]}"/><text x="{46 + n * 110}" y="{height + 47}">'
                   f"{escape(channel)}</text>")
    return "".join(svg) + "</svg>"


def _v(value: object) -> str:
    return "–" if value is None else str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value} %"
