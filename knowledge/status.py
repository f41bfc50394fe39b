"""Cheap readiness check of the built index, for /health."""
from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"


def index_ready(index_dir: Path) -> tuple[bool, str]:
    path = Path(index_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, "index not built (make index)"
    except (OSError, ValueError) as exc:
        return False, f"manifest unreadable: {type(exc).__name__}"
    count = int(manifest.get("guides", 0))
    return (count > 0), f"{count} guides"
