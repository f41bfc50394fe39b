"""Every message kind the assistant can send is documented for channel developers (docs/API.md)."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def emitted_kinds() -> set[str]:
    kinds = set()
    for path in (ROOT / "actions").glob("*.py"):
        kinds |= set(re.findall(r'say\(\s*dispatcher,\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    for path in (ROOT / "domain").rglob("domain.yml"):
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses", {})
        for variants in responses.values():
            kinds |= {v["custom"]["kind"] for v in variants if "custom" in v}
    for path in (ROOT / "connectors" / "gateway").rglob("*.py"):
        kinds |= set(re.findall(r'BotMessage\(kind="([a-z_]+)"', path.read_text(encoding="utf-8")))
    return kinds


def test_every_message_kind_is_documented():
    doc = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    kinds = emitted_kinds()
    assert {"greeting", "guide_answer", "form_question", "emergency"} <= kinds  # the scan itself works
    missing = sorted(k for k in kinds if f"`{k}`" not in doc)
    assert not missing, f"kinds missing from docs/API.md: {missing}"
