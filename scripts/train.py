"""Train the Rasa model only when its inputs changed: the model file is named by their content hash.

Usage: python scripts/train.py [--rasa .venv/rasa/bin/rasa] [--print-path]
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ["config.yml", "domain", "nlu/data", "nlu/components", "nlu/textnorm.py", "build/jieba", "build/nlu",
          "requirements/rasa.lock"]
SUFFIXES = {".yml", ".yaml", ".py", ".txt", ".lock"}
# The ONNX encoder of nlu.components.e5_featurizer lives outside the model file; its export record holds the
# sha256 of model.onnx and tokenizer.json, so a re-exported encoder means a retrained model.
E5_ONNX_RECORD = "build/models/e5-onnx/e5.json"


def input_files() -> list[Path]:
    files: list[Path] = []
    for name in INPUTS:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES
                         and "__pycache__" not in p.parts)
    if "E5Featurizer" in (ROOT / "config.yml").read_text(encoding="utf-8") and (ROOT / E5_ONNX_RECORD).is_file():
        files.append(ROOT / E5_ONNX_RECORD)
    return sorted(files)


def content_hash() -> str:
    digest = hashlib.sha256()
    for path in input_files():
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path() -> Path:
    return ROOT / "models" / f"nlu-core-{content_hash()}.tar.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rasa", default=str(ROOT / ".venv" / "rasa" / "bin" / "rasa"))
    parser.add_argument("--print-path", action="store_true", help="only print the model path for the inputs")
    args = parser.parse_args()
    target = model_path()
    if args.print_path:
        print(target)
        return 0
    if target.exists():
        print(f"model up to date: {target.relative_to(ROOT)}")
        return 0
    cmd = [args.rasa, "train", "--config", "config.yml", "--domain", "domain", "--data", "nlu/data", "build/nlu", "domain",
           "--out", "models", "--fixed-model-name", target.name.removesuffix(".tar.gz")]
    print("training:", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0 or not target.exists():
        print("training failed", file=sys.stderr)
        return result.returncode or 1
    models = sorted((ROOT / "models").glob("nlu-core-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in models[3:]:  # keep the newest three for a quick rollback
        stale.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
