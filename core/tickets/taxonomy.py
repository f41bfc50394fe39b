"""The three-level category scheme of citizen appeals (工单分类): level1 / level2 / level3.

core/tickets/data/taxonomy.csv is a copy of the 2020 "智慧政务" competition's scheme (category names
only): 15 level-1 categories, 517 level-3 rows. Level-2 names repeat under different level-1 categories
(安全生产 under 城乡建设 and 经济管理, 其他 everywhere), so a category is always named by its full path.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TAXONOMY_FILE = Path(__file__).resolve().parent / "data" / "taxonomy.csv"


@dataclass(frozen=True)
class Category:
    level1: str
    level2: str
    level3: str

    @property
    def path(self) -> str:
        return f"{self.level1}/{self.level2}/{self.level3}"


class Taxonomy:
    """Rows of the scheme in file order, with lookups by level."""

    def __init__(self, rows: list[Category]):
        if not rows:
            raise ValueError("the taxonomy has no rows")
        self.rows = rows
        self._tree: dict[str, dict[str, list[str]]] = {}
        for row in rows:
            level3s = self._tree.setdefault(row.level1, {}).setdefault(row.level2, [])
            if row.level3 in level3s:
                raise ValueError(f"duplicate taxonomy row {row.path}")
            level3s.append(row.level3)

    @property
    def level1s(self) -> list[str]:
        return list(self._tree)

    def level2s(self, level1: str) -> list[str]:
        return list(self._tree.get(level1, {}))

    def level3s(self, level1: str, level2: str) -> list[str]:
        return list(self._tree.get(level1, {}).get(level2, []))

    def contains(self, level1: str, level2: str | None = None, level3: str | None = None) -> bool:
        """True when the (partial) path names categories of the scheme."""
        if level1 not in self._tree:
            return False
        if level2 is None:
            return level3 is None
        if level2 not in self._tree[level1]:
            return False
        return level3 is None or level3 in self._tree[level1][level2]

    def __len__(self) -> int:
        return len(self.rows)


def read_taxonomy(path: Path | str) -> Taxonomy:
    """Parse a level1,level2,level3 CSV (header required, UTF-8, blank names refused)."""
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or [f.strip() for f in reader.fieldnames[:3]] != ["level1", "level2", "level3"]:
            raise ValueError(f"{path}: the header must be level1,level2,level3")
        rows = []
        for number, record in enumerate(reader, start=2):
            names = [(record.get(key) or "").strip() for key in ("level1", "level2", "level3")]
            if not all(names):
                raise ValueError(f"{path}:{number}: empty category name")
            rows.append(Category(*names))
    return Taxonomy(rows)


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The project's scheme (read once per process)."""
    return read_taxonomy(TAXONOMY_FILE)
