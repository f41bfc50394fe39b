"""Generate ask_guide training examples from the guides' own example questions and aliases.

Run: python -m knowledge.nlu_examples --out build/nlu   (part of `make train`)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from knowledge.settings import knowledge_settings
from knowledge.dictionary import write_if_changed
from knowledge.schema import load_guides

TEMPLATES = ["{}要带什么材料", "{}怎么办理", "{}去哪里办"]


def examples(guides) -> list[str]:
    out: list[str] = []
    for guide in guides:
        out.extend(guide.examples)
        for alias in guide.aliases[:3]:
            out.extend(t.format(alias) for t in TEMPLATES[:2])
        out.append(TEMPLATES[2].format(guide.name))
    seen: set[str] = set()
    return [e for e in (x.strip().replace("\n", " ") for x in out) if e and not (e in seen or seen.add(e))]


def write(out_dir: Path, guides_dir: Path) -> Path:
    lines = ['version: "3.1"', "nlu:", "  - intent: ask_guide", "    examples: |"]
    lines += [f"      - {e}" for e in examples(load_guides(guides_dir))]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "guide_questions.yml"
    write_if_changed(path, "\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/nlu"))
    args = parser.parse_args()
    print(f"ask_guide examples: {write(args.out, knowledge_settings().knowledge_dir)}")


if __name__ == "__main__":
    main()
