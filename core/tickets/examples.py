"""Example appeals written for this project (core/tickets/data/examples.yaml), one list per category.

They are the only evidence for the level-1 categories without real training appeals, and, with the
category names, what level-2 and level-3 are chosen by. Layout: level1 -> level2 -> level3 -> [texts];
the level-3 key "*" holds examples of the level-2 category as a whole. Every name is checked against
the taxonomy when the file is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from core.tickets.taxonomy import Taxonomy, load_taxonomy

EXAMPLES_FILE = Path(__file__).resolve().parent / "data" / "examples.yaml"
ANY_LEVEL3 = "*"


@dataclass(frozen=True)
class Example:
    level1: str
    level2: str
    level3: str | None
    text: str


def parse_examples(data: object, taxonomy: Taxonomy, source: str = "examples") -> list[Example]:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected level1 -> level2 -> level3 -> [texts]")
    found: list[Example] = []
    problems: list[str] = []
    for level1, level2s in data.items():
        if not taxonomy.contains(level1) or not isinstance(level2s, dict):
            problems.append(f"'{level1}' is not a level-1 category (or has no level-2 mapping)")
            continue
        for level2, level3s in level2s.items():
            if not taxonomy.contains(level1, level2) or not isinstance(level3s, dict):
                problems.append(f"'{level1}/{level2}' is not a level-2 category (or has no level-3 mapping)")
                continue
            for level3, texts in level3s.items():
                if level3 != ANY_LEVEL3 and not taxonomy.contains(level1, level2, level3):
                    problems.append(f"'{level1}/{level2}/{level3}' is not a category")
                    continue
                if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
                    problems.append(f"'{level1}/{level2}/{level3}' must hold a list of texts")
                    continue
                found.extend(Example(level1, level2, None if level3 == ANY_LEVEL3 else level3, t.strip())
                             for t in texts)
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return found


@lru_cache(maxsize=1)
def load_examples() -> tuple[Example, ...]:
    data = yaml.safe_load(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return tuple(parse_examples(data, load_taxonomy(), source=str(EXAMPLES_FILE)))
