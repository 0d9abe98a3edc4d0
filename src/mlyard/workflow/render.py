"""Self-contained HTML for notebooks (``_repr_html_``; ``save(path)`` writes a file): tables of
workflows, executions and events. Nothing is loaded from the network."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

__all__ = ["HTML", "workflows_table", "executions_table", "events_table", "STATUS_COLOURS"]

# The palette of Step Functions' progress views.
STATUS_COLOURS = {"SUCCEEDED": "#2BD62E", "FAILED": "#DE322F", "ABORTED": "#DDDDDD", "TIMED_OUT": "#DE322F",
                  "RUNNING": "#53C9ED", "CAUGHT": "#FFA500"}
_STYLE = ("<style>.mlyard-table{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
          ".mlyard-table th,.mlyard-table td{border:1px solid #ddd;padding:4px 8px;text-align:left;"
          "vertical-align:top}.mlyard-table th{background:#f4f4f4}.mlyard-status{display:inline-block;"
          "width:10px;height:10px;border-radius:5px;margin-right:6px}</style>")


class HTML:
    def __init__(self, data: str) -> None:
        self.data = data

    def _repr_html_(self) -> str:
        return self.data

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{self.data}</body></html>")
        return out

    def __str__(self) -> str:
        return self.data


def _status(value: str) -> str:
    colour = STATUS_COLOURS.get(value, "#BBBBBB")
    return f"<span class='mlyard-status' style='background:{colour}'></span>{html.escape(value)}"


def _table(headers: list[str], rows: list[list[str]]) -> HTML:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return HTML(f"{_STYLE}<table class='mlyard-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def workflows_table(rows: list[dict[str, Any]]) -> HTML:
    return _table(["Name", "Type", "Created"], [
        [html.escape(r["name"]), html.escape(str(r.get("type"))), html.escape(str(r.get("creationDate")))]
        for r in rows])


def executions_table(rows: list[dict[str, Any]]) -> HTML:
    return _table(["Name", "Status", "Started", "Ended"], [
        [html.escape(r["name"]), _status(r["status"]), html.escape(str(r.get("startDate"))),
         html.escape(str(r.get("stopDate") or ""))] for r in rows])


def events_table(events: list[dict[str, Any]]) -> HTML:
    rows = []
    for e in events:
        details: Any = next((v for k, v in e.items() if k.endswith("EventDetails")), {})
        step = details.get("name", "") if isinstance(details, dict) else ""
        rows.append([str(e["id"]), html.escape(e["type"]), html.escape(str(step)), html.escape(str(e["timestamp"])),
                     f"<pre>{html.escape(json.dumps(details, indent=1))}</pre>"])
    return _table(["ID", "Type", "Step", "Timestamp", "Details"], rows)


def _edges(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, label) of a state's transitions."""
    out = []
    if isinstance(state.get("Next"), str):
        out.append((state["Next"], ""))
    for i, rule in enumerate(state.get("Choices") or []):
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            out.append((rule["Next"], f"rule {i + 1}"))
    if isinstance(state.get("Default"), str):
        out.append((state["Default"], "default"))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append((catcher["Next"], "catch"))
    return out


def graph_svg(definition: dict[str, Any], statuses: dict[str, tuple[str, str]] | None = None,
              portrait: bool = False) -> HTML:
    """The state machine as an SVG: states laid out by their distance from StartAt, transitions as
    arrows; with ``statuses`` (state -> (status, note)), each state coloured by its status."""
    states: dict[str, Any] = definition.get("States") or {}
    start = str(definition.get("StartAt"))
    level: dict[str, int] = {}
    queue = [start] if start in states else []
    if queue:
        level[start] = 0
    while queue:
        name = queue.pop(0)
        for target, _ in _edges(states[name]):
            if target in states and target not in level:
                level[target] = level[name] + 1
                queue.append(target)
    for name in states:  # unreachable states still show
        level.setdefault(name, max(level.values(), default=-1) + 1)
    rows: dict[int, list[str]] = {}
    for name, lvl in level.items():
        rows.setdefault(lvl, []).append(name)
    w, h, gap_main, gap_cross = 170, 44, 60, 24
    pos: dict[str, tuple[float, float]] = {}
    for lvl, names in rows.items():
        for i, name in enumerate(names):
            main, cross = lvl * (h + gap_main if portrait else w + gap_main), i * (w + gap_cross if portrait
                                                                                   else h + gap_cross)
            pos[name] = (cross, main) if portrait else (main, cross)
    width = max((x for x, _ in pos.values()), default=0) + w + 20
    height = max((y for _, y in pos.values()), default=0) + h + 20
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             "font-family='sans-serif' font-size='12'><defs><marker id='arrow' viewBox='0 0 10 10' refX='10' "
             "refY='5' markerWidth='7' markerHeight='7' orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' "
             "fill='#555'/></marker></defs>"]
    for name, state in states.items():
        x0, y0 = pos[name]
        for target, label in _edges(state):
            if target not in pos:
                continue
            x1, y1 = pos[target]
            if portrait:
                a, b = (x0 + w / 2 + 10, y0 + h + 10), (x1 + w / 2 + 10, y1 + 10)
            else:
                a, b = (x0 + w + 10, y0 + h / 2 + 10), (x1 + 10, y1 + h / 2 + 10)
            mid = ((a[0] + b[0]) / 2 + (0 if level[target] > level[name] else 40),
                   (a[1] + b[1]) / 2 + (0 if level[target] > level[name] else 40))
            dash = " stroke-dasharray='4 3'" if label == "catch" else ""
            parts.append(f"<path d='M {a[0]} {a[1]} Q {mid[0]} {mid[1]} {b[0]} {b[1]}' fill='none' stroke='#555'"
                         f"{dash} marker-end='url(#arrow)'/>")
            if label:
                parts.append(f"<text x='{mid[0]}' y='{mid[1] - 3}' fill='#777' font-size='10'>"
                             f"{html.escape(label)}</text>")
    for name, state in states.items():
        x, y = pos[name]
        status, note = (statuses or {}).get(name, ("", ""))
        fill = STATUS_COLOURS.get(status, "#FFFFFF")
        kind = state.get("Type", "") if isinstance(state, dict) else ""
        title = html.escape(f"{name} ({kind})" + (f": {status} {note}" if status else ""))
        parts.append(f"<g><title>{title}</title><rect x='{x + 10}' y='{y + 10}' width='{w}' height='{h}' rx='6' "
                     f"fill='{fill}' stroke='#333'/><text x='{x + 10 + w / 2}' y='{y + 10 + 18}' "
                     f"text-anchor='middle'>{html.escape(name[:24])}</text><text x='{x + 10 + w / 2}' "
                     f"y='{y + 10 + 34}' text-anchor='middle' fill='#444' font-size='10'>"
                     f"{html.escape((kind + ' ' + note).strip()[:30])}</text></g>")
    parts.append("</svg>")
    return HTML("<div class='mlyard-graph'>" + "".join(parts) + "</div>")


def progress_statuses(events: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Each top-level state's status (and duration) from an execution's history."""
    out: dict[str, tuple[str, str]] = {}
    entered: dict[str, str] = {}
    failed: set[str] = set()
    from datetime import datetime

    for e in events:
        if e.get("flow"):
            continue  # inside a Parallel branch or a Map iteration
        kind = e["type"]
        details: Any = next((v for k, v in e.items() if k.endswith("EventDetails")), {}) or {}
        name = details.get("name") if isinstance(details, dict) else None
        if not name:
            continue
        if kind.endswith("StateEntered"):
            entered[name] = e["timestamp"]
            out[name] = ("FAILED", "") if kind == "FailStateEntered" else ("RUNNING", "")
        elif kind in ("TaskFailed", "TaskTimedOut", "ParallelStateFailed", "MapStateFailed"):
            failed.add(name)
            out[name] = ("FAILED", "")
        elif kind.endswith("StateExited"):
            seconds = (datetime.fromisoformat(e["timestamp"]) - datetime.fromisoformat(entered[name])).total_seconds() \
                if name in entered else 0.0
            out[name] = ("CAUGHT" if name in failed else "SUCCEEDED", f"{seconds:.1f} s")
    return out
