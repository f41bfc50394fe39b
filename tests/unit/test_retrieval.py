"""Hybrid retrieval: build, incremental rebuild, hot reload, and answers to real questions.

Every check runs against a lexical-only index, and again against the hybrid
(dense + lexical) index when the embedding model is present (settings.embedding_model,
normally build/models/e5-onnx from `make index`); without the model the
hybrid cases are skipped with a message saying so.

Build mechanics use an index of a few guides. Questions are asked of an index of the whole
knowledge base (also built into tmp_path): the answerability threshold is calibrated for it,
and BM25 scores depend on the size of the collection. The lexical-only index is the fallback
without a model; its threshold is set to keep refusing out-of-scope questions, so it also
refuses many in-scope ones and only its ranking is checked for those.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.settings import get_settings
from knowledge.encoder import model_available
from knowledge.index import build_index, read_manifest
from knowledge.retrieval import Retriever, get_retriever

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "knowledge" / "guides"
SAMPLE = [
    "xinshenger_chusheng.yaml",        # 新生儿出生一件事
    "tuixiu.yaml",                     # 退休一件事
    "shehui_baozhangka_jumin_fuwu.yaml",  # 社会保障卡居民服务一件事
    "shenfenzheng_huanling_buling.yaml",  # 居民身份证换领补领
    "qiye_kaiban.yaml",                # 企业开办一件事
    "juzhuzheng_banli.yaml",           # 居住证办理
]
MODEL = get_settings().embedding_model
HAVE_MODEL = model_available(MODEL)
NO_MODEL = f"embedding model not available at {MODEL}: dense part skipped (run `make index` to build it)"

MODES = [
    pytest.param("lexical", id="lexical"),
    pytest.param("hybrid", id="hybrid", marks=pytest.mark.skipif(not HAVE_MODEL, reason=NO_MODEL)),
]


def _copy_guides(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE:
        shutil.copy(GUIDES / name, dest / name)
    return dest


def _seed_vector_cache(index: Path) -> None:
    """Reuse vectors already computed by `make index` (only a speed-up: they are keyed by content)."""
    source = get_settings().index_dir / "cache"
    if source.is_dir():
        shutil.copytree(source, index / "cache", dirs_exist_ok=True)


def _build_all(tmp_path_factory, guides_for) -> dict:
    """mode -> (guides dir, index dir), for the modes that can run here."""
    out = {}
    for mode in ("lexical", "hybrid"):
        if mode == "hybrid" and not HAVE_MODEL:
            continue
        base = tmp_path_factory.mktemp(f"kb-{mode}")
        guides = guides_for(base / "guides")
        index = base / "index"
        if mode == "hybrid":
            _seed_vector_cache(index)
        build_index(guides, index, MODEL if mode == "hybrid" else None)
        out[mode] = (guides, index)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A few guides: build mechanics."""
    return _build_all(tmp_path_factory, _copy_guides)


@pytest.fixture(scope="module")
def knowledge_base(tmp_path_factory):
    """All published guides: questions and answerability."""
    def copy_all(dest: Path) -> Path:
        shutil.copytree(GUIDES, dest)
        return dest
    built = _build_all(tmp_path_factory, copy_all)
    return {mode: Retriever(index) for mode, (_, index) in built.items()}


def _search(knowledge_base, mode, query, k=3):
    return knowledge_base[mode].search(query, k=k)


def _assert_answers(result, mode, guide):
    assert result["results"][0]["name"] == guide, result["results"]
    if mode == "hybrid":
        assert result["answerable"] is True, result


@pytest.mark.parametrize("mode", MODES)
def test_manifest_contract(built, mode):
    manifest = read_manifest(built[mode][1])
    assert manifest["guides"] == len(SAMPLE)
    assert manifest["version"]
    names = {r["name"] for r in Retriever(built[mode][1]).search("办事", k=10)["results"]}
    assert set(manifest["hashes"]) == names
    assert (manifest["model"] is None) == (mode == "lexical")


@pytest.mark.parametrize("mode", MODES)
def test_colloquial_question_finds_the_guide(knowledge_base, mode):
    result = _search(knowledge_base, mode, "孩子刚出生，要办哪些手续？")
    _assert_answers(result, mode, "新生儿出生一件事")
    assert set(result) >= {"answerable", "results", "clear", "candidates", "confidence"}
    assert all(set(r) >= {"name", "score"} for r in result["results"])


@pytest.mark.parametrize("mode", MODES)
def test_traditional_characters(knowledge_base, mode):
    simplified = _search(knowledge_base, mode, "孩子刚出生，要办哪些手续？")
    result = _search(knowledge_base, mode, "孩子剛出生，要辦哪些手續？")
    _assert_answers(result, mode, "新生儿出生一件事")
    assert result["results"] == simplified["results"]  # normalised to the same text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "query, guide",
    [
        ("我刚退修，养老金怎么领？", "退休一件事"),          # 退修 ~ 退休
        ("社保咔丢了咋补办？", "社会保障卡居民服务一件事"),    # 咔 ~ 卡
        ("孩子出身证明怎么开", "新生儿出生一件事"),           # 出身 ~ 出生 (-ng/-n)
        ("身分证丢了怎么补办？", "居民身份证换领补领"),       # 分 ~ 份
    ],
)
def test_homophones(knowledge_base, mode, query, guide):
    _assert_answers(_search(knowledge_base, mode, query), mode, guide)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", ["护照怎么办理", "護照怎麼辦理？"])
def test_out_of_scope_is_not_answerable(knowledge_base, mode, query):
    result = _search(knowledge_base, mode, query)
    assert result["answerable"] is False
    assert result["candidates"] == []


def test_close_candidates_are_offered_only_when_answerable(knowledge_base):
    retriever = next(iter(knowledge_base.values()))
    for query in ["开公司", "社保", "户口", "孩子刚出生，要办哪些手续？"]:
        result = retriever.search(query, k=5)
        if result["clear"] or not result["answerable"]:
            assert result["candidates"] == []
        else:
            names = [r["name"] for r in result["results"]]
            assert 2 <= len(result["candidates"]) <= 3
            assert result["candidates"] == names[: len(result["candidates"])]


def test_empty_query(knowledge_base):
    result = _search(knowledge_base, "lexical", "  ")
    assert result == result | {"answerable": False, "results": []}


def _edit_alias(guides: Path, file_name: str, alias: str) -> str:
    path = guides / file_name
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["aliases"].append(alias)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return raw["name"]


@pytest.mark.parametrize("mode", MODES)
def test_incremental_build_reembeds_only_the_changed_guide(built, mode, tmp_path):
    guides_src, index_src = built[mode]
    guides = tmp_path / "guides"
    index = tmp_path / "index"
    shutil.copytree(guides_src, guides)
    shutil.copytree(index_src, index)  # carries the vector cache along
    model = MODEL if mode == "hybrid" else None

    unchanged = build_index(guides, index, model)
    assert unchanged.changed is False and unchanged.embedded_guides == []

    name = _edit_alias(guides, "juzhuzheng_banli.yaml", "暂住证怎么弄")
    report = build_index(guides, index, model)
    assert report.changed is True
    assert report.version != unchanged.version
    if mode == "hybrid":
        assert report.embedded_guides == [name]
        assert report.reused_guides == len(SAMPLE) - 1
    manifest = read_manifest(index)
    assert manifest["version"] == report.version
    assert (index / manifest["data"]).is_dir()


@pytest.mark.parametrize("mode", MODES)
def test_accessor_reloads_a_rebuilt_index(built, mode, tmp_path):
    guides_src, index_src = built[mode]
    guides = tmp_path / "guides"
    index = tmp_path / "index"
    shutil.copytree(guides_src, guides)
    shutil.copytree(index_src, index)
    model = MODEL if mode == "hybrid" else None

    first = get_retriever(index, check_interval=0)
    assert get_retriever(index, check_interval=0) is first  # unchanged manifest: same object

    _edit_alias(guides, "qiye_kaiban.yaml", "开个皮包公司")
    build_index(guides, index, model)
    second = get_retriever(index, check_interval=0)
    assert second is not first
    assert second.version == read_manifest(index)["version"] != first.version
    if first.encoder is not None:
        assert second.encoder is first.encoder  # the model is loaded once per process


def test_cli_search_json(built, capsys):
    import json

    from knowledge.__main__ import main

    mode = "hybrid" if "hybrid" in built else "lexical"
    assert main(["search", "孩子刚出生要办什么", "--top-k", "2", "--json", "--index-dir", str(built[mode][1])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["answerable"], bool)
    assert len(out["results"]) == 2
    assert all(isinstance(r["name"], str) and isinstance(r["score"], float) for r in out["results"])
