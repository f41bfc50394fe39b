"""Layers point one way: a lower layer never imports a higher one (DEVELOPERS' design rules).

nlu/ (text normalisation, Rasa components) imports nothing of ours; knowledge/ may use nlu/;
core/ may use knowledge/ and nlu/; actions/ and connectors/ sit on top. Imports inside functions
count too, so a lazy import cannot hide a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"nlu", "knowledge", "core", "actions", "connectors", "speech", "scripts", "bench", "tests"}
ALLOWED = {
    "nlu": set(),
    "knowledge": {"nlu"},
    "core": {"nlu", "knowledge"},
    "speech": {"nlu", "knowledge", "core"},
    "actions": {"nlu", "knowledge", "core"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in OURS)
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_is_below_it(layer):
    wrong = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[layer] - {layer}
        if bad:
            wrong.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not wrong, "\n".join(wrong)


def test_the_check_itself_sees_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom core.settings import x\n\ndef f():\n    import connectors.gateway\n")
    assert imported_packages(sample) == {"core", "connectors"}
