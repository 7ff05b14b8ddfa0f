"""Grafana dashboards as data: their panels' PromQL, template variables and substitution.

Grafana itself cannot run here, so dashboards are proven by running every panel query, with its
variables substituted the way Grafana would, against a real Prometheus.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "grafana" / "dashboards"

# What Grafana puts in for its built-in interval variables, at a 1 s scrape interval.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "10m"}

_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")
_VARIABLE = re.compile(
    r"\$\{(?P<braced>[a-zA-Z0-9_]+)(?::[^}]*)?\}|\[\[(?P<old>[a-zA-Z0-9_]+)\]\]|\$(?P<plain>[a-zA-Z0-9_]+)"
)


def dashboard_paths() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title / refId, expr) of every Prometheus query in the dashboard."""
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                found.append((f"{panel.get('title')} / {target.get('refId')}", target["expr"]))
    return found


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return dashboard.get("templating", {}).get("list", [])


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace ``$var``, ``${var}``, ``${var:format}`` and ``[[var]]`` as Grafana does."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("old") or match.group("plain")
        if name in values:
            return values[name]
        if name in BUILTINS:
            return BUILTINS[name]
        raise KeyError(f"unknown variable ${name} in {text!r}")

    return _VARIABLE.sub(replace, text)


def _definition(variable: dict[str, Any]) -> str:
    query = variable.get("query")
    return (query.get("query") if isinstance(query, dict) else query) or variable.get("definition", "")


def _series_text(item: dict[str, Any]) -> str:
    """A query_result() row as Grafana renders it before applying the variable's regex."""
    metric = dict(item["metric"])
    name = metric.pop("__name__", "")
    labels = ", ".join(f'{key}="{value}"' for key, value in metric.items())
    return f"{name}{{{labels}}} {item['value'][1]} {int(float(item['value'][0]) * 1000)}"


def _regex(variable: dict[str, Any]) -> re.Pattern[str] | None:
    pattern = variable.get("regex") or ""
    if not pattern:
        return None
    if pattern.startswith("/") and pattern.rfind("/") > 0:
        pattern = pattern[1 : pattern.rfind("/")]
    return re.compile(pattern)


def variable_options(variable: dict[str, Any], values: dict[str, str], prometheus: Any) -> list[str]:
    """What a Prometheus query variable lists: ``label_values(...)`` or ``query_result(...)`` + regex."""
    definition = _definition(variable)
    parsed = _LABEL_VALUES.match(definition)
    if parsed is not None:
        match = parsed.group("match")
        listed = prometheus.label_values(parsed.group("label"), substitute(match, values) if match else None)
    elif definition.startswith("query_result(") and definition.endswith(")"):
        expr = substitute(definition[len("query_result(") : -1], values)
        listed = [_series_text(item) for item in prometheus.query(expr)]
    else:
        raise AssertionError(f"variable {variable['name']}: query {definition!r} is not handled by this test")
    regex = _regex(variable)
    if regex is not None:
        extracted = []
        for text in listed:
            found = regex.search(text)
            if found:
                extracted.append(found.group(1) if found.groups() else found.group(0))
        listed = extracted
    return sorted(set(listed), key=listed.index)


def assignments(dashboard: dict[str, Any], prometheus: Any) -> Iterator[dict[str, str]]:
    """Every assignment of the dashboard's variables Grafana could offer now, in variable order.

    Query variables list what ``label_values`` returns through Prometheus's API (earlier variables
    substituted into later ones); "All" variables take their all-value; text boxes their default.
    """

    def expand(index: int, values: dict[str, str]) -> Iterator[dict[str, str]]:
        if index == len(variables(dashboard)):
            yield dict(values)
            return
        variable = variables(dashboard)[index]
        name = variable["name"]
        if variable["type"] in ("textbox", "constant", "custom"):
            options = [str(variable.get("query", "")).split(",")[0]]
        elif variable["type"] == "query":
            listed = variable_options(variable, values, prometheus)
            if variable.get("includeAll"):
                options = [variable.get("allValue") or "(" + "|".join(map(re.escape, listed)) + ")"] if listed else []
            else:
                options = listed
        else:
            raise AssertionError(f"variable {name}: type {variable['type']} is not handled by this test")
        for option in options:
            yield from expand(index + 1, {**values, name: option})

    yield from itertools.islice(expand(0, {}), 200)
