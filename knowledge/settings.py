"""Where the knowledge base lives: guides, index and embedding model (environment variables).

knowledge/ sits below core/ and must not import it, so these three settings are read here;
core.settings.Settings exposes the same values, so the rest of the application keeps one
Settings object (docs/CONFIG.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


@dataclass(frozen=True)
class KnowledgeSettings:
    knowledge_dir: Path = field(default_factory=lambda: Path(_env("KNOWLEDGE_DIR", str(ROOT / "knowledge" / "guides"))))
    index_dir: Path = field(default_factory=lambda: Path(_env("INDEX_DIR", str(ROOT / "build" / "index"))))
    embedding_model: str = field(
        default_factory=lambda: _env("EMBEDDING_MODEL", str(ROOT / "build" / "models" / "e5-onnx")))


def knowledge_settings() -> KnowledgeSettings:
    """Read now (not cached): tests and tools point KNOWLEDGE_DIR / INDEX_DIR elsewhere at run time."""
    return KnowledgeSettings()
