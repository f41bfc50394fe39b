"""Where the project's shared data lives (../shared/data next to the checkout, as the developers' guide says;
the service catalogue is ../shared/catalog.yaml beside it).

A clone elsewhere (a CI work folder) finds it through HOTLINE_SHARED_DATA or the workplace's /work/shared/data.
The clips and appeals there are not committed (their licences are mixed); tests only read them.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    candidates = [os.environ.get("HOTLINE_SHARED_DATA", ""), str(ROOT.parent / "shared" / "data"), "/work/shared/data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return ROOT.parent / "shared" / "data"   # missing: the tests that need it say which file is missing


ASR_CLIPS = shared_data() / "asr_zh"
