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
