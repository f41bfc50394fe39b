"""Routing of classified tickets to a 承办单位 (department), from a table kept as data.

The table is core/tickets/data/routing.yaml unless the ROUTING_FILE setting names another file. It is
validated when loaded (see the file's header); a running process re-reads it when the file changes, so
editing it needs neither a code change nor a restart. Resolution: the most specific entry wins
(level1/level2/level3, then level1/level2), else the level-1 default.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.tickets.taxonomy import Taxonomy, load_taxonomy

DEFAULT_ROUTING_FILE = Path(__file__).resolve().parent / "data" / "routing.yaml"


class RoutingError(ValueError):
    """The routing table is unusable; the message names every problem found."""


@dataclass(frozen=True)
class RoutingTable:
    departments: tuple[str, ...]
    level1: dict[str, str]
    routes: dict[str, str]

    def department(self, level1: str, level2: str | None = None, level3: str | None = None) -> str:
        """The department for a category; the most specific entry wins. KeyError for an unknown level-1."""
        if level2 and level3:
            found = self.routes.get(f"{level1}/{level2}/{level3}")
            if found:
                return found
        if level2:
            found = self.routes.get(f"{level1}/{level2}")
            if found:
                return found
        return self.level1[level1]


def parse_routing(data: object, taxonomy: Taxonomy, source: str = "routing table") -> RoutingTable:
    """Check a loaded YAML document against the taxonomy; RoutingError lists all problems at once."""
    if not isinstance(data, dict):
        raise RoutingError(f"{source}: expected a mapping with departments, level1 and routes")
    problems: list[str] = []
    departments = data.get("departments")
    if not isinstance(departments, list) or not departments or not all(
            isinstance(d, str) and d.strip() for d in departments):
        problems.append("`departments` must be a non-empty list of department names")
        departments = []
    known = {d.strip() for d in departments}
    if len(known) != len(departments):
        problems.append("`departments` lists a department twice")

    def check_department(key: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key}: the department must be a name")
            return ""
        if value.strip() not in known:
            problems.append(f"{key}: department '{value}' is not listed under `departments`")
        return value.strip()

    level1_raw = data.get("level1")
    if not isinstance(level1_raw, dict):
        problems.append("`level1` must map every level-1 category to its default department")
        level1_raw = {}
    level1 = {}
    for key, value in level1_raw.items():
        if not taxonomy.contains(str(key)):
            problems.append(f"level1 '{key}' is not a level-1 category of the taxonomy")
        level1[str(key)] = check_department(f"level1 '{key}'", value)
    for name in taxonomy.level1s:
        if name not in level1:
            problems.append(f"level-1 category '{name}' has no default department (tickets could not be routed)")

    routes_raw = data.get("routes") or {}
    if not isinstance(routes_raw, dict):
        problems.append("`routes` must map level1/level2[/level3] paths to departments")
        routes_raw = {}
    routes = {}
    for key, value in routes_raw.items():
        parts = [p.strip() for p in str(key).split("/")]
        if len(parts) not in (2, 3) or not all(parts) or not taxonomy.contains(*parts):
            problems.append(f"route '{key}' does not name a level1/level2 or level1/level2/level3 category")
        routes["/".join(parts)] = check_department(f"route '{key}'", value)

    unknown = set(data) - {"departments", "level1", "routes"}
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)} (expected departments, level1, routes)")
    if problems:
        raise RoutingError(f"{source}: " + "; ".join(problems))
    return RoutingTable(tuple(d.strip() for d in departments), level1, routes)


def read_routing(path: Path | str, taxonomy: Taxonomy | None = None) -> RoutingTable:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingError(f"cannot read routing table {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RoutingError(f"routing table {path} is not valid YAML: {exc}") from exc
    return parse_routing(data, taxonomy or load_taxonomy(), source=str(path))


def routing_file() -> Path:
    from core.settings import get_settings

    return get_settings().routing_file


_cache: dict[str, tuple[tuple[float, int], RoutingTable]] = {}
_lock = threading.Lock()


def load_routing(path: Path | str | None = None) -> RoutingTable:
    """The routing table (ROUTING_FILE by default), re-read when the file changes. Raises RoutingError."""
    path = Path(path) if path else routing_file()
    try:
        stat = path.stat()
    except OSError as exc:
        raise RoutingError(f"cannot read routing table {path}: {exc}") from exc
    stamp = (stat.st_mtime, stat.st_size)
    with _lock:
        cached = _cache.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1]
        table = read_routing(path)
        _cache[str(path)] = (stamp, table)
        return table


def department_for(level1: str, level2: str | None = None, level3: str | None = None) -> str:
    """The department of a category under the current routing table."""
    return load_routing().department(level1, level2, level3)
