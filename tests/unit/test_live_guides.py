"""knowledge/live.py: a process follows the published guides in memory. The index derived from the built one
(only changed guides re-tokenised and re-embedded) answers exactly like a full rebuild of the same guides, and
the catalog and retriever of the process switch when the source's revision changes.

Runs lexical-only, and again hybrid when the embedding model is present (as tests/unit/test_retrieval.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from knowledge import live
from knowledge.catalog import get_catalog
from knowledge.encoder import model_available
from knowledge.index import build_index
from knowledge.retrieval import Retriever, get_retriever
from knowledge.schema import Guide, load_guides
from knowledge.settings import knowledge_settings

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "knowledge" / "guides"
MODEL = knowledge_settings().embedding_model
HAVE_MODEL = model_available(MODEL)
MODES = [
    pytest.param("lexical", id="lexical"),
    pytest.param("hybrid", id="hybrid", marks=pytest.mark.skipif(
        not HAVE_MODEL, reason=f"embedding model not available at {MODEL} (run `make index`)")),
]
QUESTIONS = ["换身份证要带什么", "孩子刚出生要办什么", "火星居民证怎么换", "退休要什么材料", "开个饭馆要办啥"]


def edit(guide: Guide, **changes) -> Guide:
    return Guide.model_validate({**guide.model_dump(mode="json"), **changes})


@pytest.fixture(scope="module")
def base_index(tmp_path_factory):
    """The whole knowledge base indexed into a temporary folder (vectors reused from `make index`)."""
    out = {}
    for mode in ("lexical", "hybrid") if HAVE_MODEL else ("lexical",):
        index = tmp_path_factory.mktemp(f"index-{mode}")
        cache = knowledge_settings().index_dir / "cache"
        if mode == "hybrid" and cache.is_dir():
            shutil.copytree(cache, index / "cache", dirs_exist_ok=True)
        build_index(GUIDES, index, MODEL if mode == "hybrid" else None)
        out[mode] = index
    return out


def edited_guides() -> list[Guide]:
    guides = {g.name: g for g in load_guides(GUIDES)}
    card = guides["居民身份证换领补领"]
    guides[card.name] = edit(card, aliases=list(card.aliases) + ["火星居民证"],
                             materials=[m.model_dump() for m in card.materials]
                             + [{"name": "火星居住证明", "form": "原件", "issuer": "火星管委会"}])
    guides["退休一件事"] = edit(guides["退休一件事"], lead_department="某某局")   # not searched: not re-indexed
    del guides["居住证办理"]
    return list(guides.values())


@pytest.mark.parametrize("mode", MODES)
def test_derived_index_answers_like_a_full_rebuild(base_index, mode, tmp_path):
    base = Retriever(base_index[mode])
    guides = edited_guides()
    assert live.changed_guides(base, guides) == ["居民身份证换领补领"]
    derived = live.derive(base, guides)
    assert "居住证办理" not in derived.names and len(derived.names) == len(base.names) - 1

    folder = tmp_path / "guides"
    folder.mkdir()
    index = tmp_path / "index"
    shutil.copytree(base_index[mode], index)
    import yaml
    for n, guide in enumerate(guides):
        (folder / f"g{n:03}.yaml").write_text(yaml.safe_dump(guide.model_dump(mode="json"), allow_unicode=True),
                                               encoding="utf-8")
    build_index(folder, index, MODEL if mode == "hybrid" else None)
    rebuilt = Retriever(index)
    for question in QUESTIONS:
        a, b = derived.search(question, k=3), rebuilt.search(question, k=3)
        assert [h["name"] for h in a["results"]] == [h["name"] for h in b["results"]], question
        assert np.allclose([h["score"] for h in a["results"]], [h["score"] for h in b["results"]], atol=2e-3)
        assert a["answerable"] == b["answerable"]
    assert derived.search("火星居民证怎么换", k=1)["results"][0]["name"] == "居民身份证换领补领"
    if mode == "hybrid":
        passages = live.best_passages(derived, "火星居民证怎么换", ["居民身份证换领补领"])
        assert "火星居民证" in passages["居民身份证换领补领"]["passage"]


class FakeStore:
    """An in-memory stand-in for the guide store of core/guides (a revision and the published guides)."""

    def __init__(self, guides: list[Guide]) -> None:
        self.guides, self.rev, self.reads = guides, "r1", 0

    def revision(self) -> str:
        return self.rev

    def published(self) -> list[Guide]:
        self.reads += 1
        return list(self.guides)


def test_a_process_follows_the_source_and_falls_back_to_the_files(base_index, monkeypatch):
    index = base_index["hybrid" if HAVE_MODEL else "lexical"]
    monkeypatch.setenv("INDEX_DIR", str(index))
    source = FakeStore(load_guides(GUIDES))
    not_loaded = live.install(source, start=False)                 # following never loads the model by itself
    assert not_loaded.catalog is not None and not_loaded.retriever is None
    get_retriever()                                                 # warm_up / the first search loads it
    following = live.install(source, start=False)
    try:
        assert following.retriever is not None and following.last_refresh["reindexed"] == []
        assert get_retriever() is following.retriever       # nothing changed: the built index itself
        reads = source.reads
        assert following.refresh() is False and source.reads == reads   # same revision: not even read again

        source.guides = edited_guides()
        source.rev = "r2"
        assert following.refresh() is True
        assert following.last_refresh["reindexed"] == ["居民身份证换领补领"]
        assert get_catalog().get("居住证办理") is None
        assert "火星居住证明" in [m.name for m in get_catalog().get("居民身份证换领补领").materials]
        assert get_retriever().search("火星居民证怎么换", k=1)["results"][0]["name"] == "居民身份证换领补领"

        source.guides, source.rev = [], "r3"                  # an empty store never hides every guide
        assert following.refresh() is False and get_catalog().get("居民身份证换领补领") is not None
    finally:
        live.uninstall()
    assert get_catalog().get("居住证办理") is not None        # back on the YAML files
    assert get_retriever().version == Retriever(index).version
