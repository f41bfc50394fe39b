"""Hit-testing before publishing: which guide and passage would answer a question, for the published guides and
for the drafts side by side; and the whole evaluation set (knowledge/eval) against the drafts, so an edit that
would change or break answers is seen before callers get it.

The draft index is derived in memory from the built index (knowledge/live.derive): only the guides whose
drafts change their searchable text are embedded again (with the loaded model), and it is kept until a draft
or the published set changes.
"""
from __future__ import annotations

import threading
from pathlib import Path

import yaml
from sqlalchemy import select

from core.db import session_scope
from core.guides.errors import GuideNotFound, InvalidInput
from core.guides.store import OPEN_STATES
from core.models import GuideRecord, GuideVersion
from knowledge import live
from knowledge.catalog import get_catalog
from knowledge.retrieval import Retriever, file_retriever, get_retriever
from knowledge.schema import Guide, field_errors

EVAL_DIR = Path(__file__).resolve().parents[2] / "knowledge" / "eval"
MAX_QUESTION = 500

_lock = threading.Lock()
_cached: tuple[tuple, Retriever, list[str]] | None = None


def _drafts(only: str | None = None) -> dict[str, Guide]:
    """The open drafts that pass the schema (name -> Guide); `only` limits them to one guide."""
    query = (select(GuideRecord.name, GuideVersion.content)
             .join(GuideVersion, GuideVersion.guide_id == GuideRecord.id)
             .where(GuideVersion.status.in_(OPEN_STATES)))
    if only:
        query = query.where(GuideRecord.name == only)
    with session_scope() as session:
        rows = session.execute(query).all()
    out = {}
    for name, content in rows:
        guide, _ = field_errors(content)
        if guide is not None:
            out[name] = guide
    return out


def draft_retriever(only: str | None = None) -> tuple[Retriever, list[str]]:
    """(a Retriever over the published guides with the open drafts in their place, names of the drafts)."""
    global _cached
    drafts = _drafts(only)
    published = get_retriever()
    key = (published.version, only, tuple(sorted((n, g.model_dump_json()) for n, g in drafts.items())))
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1], _cached[2]
        if not drafts:
            result = (published, [])
        else:
            guides = {g.name: g for g in get_catalog().guides}
            guides.update(drafts)
            result = (live.derive(file_retriever(), list(guides.values()), label="draft"), sorted(drafts))
        _cached = (key, *result)
        return result


def _view(retriever: Retriever, question: str, k: int = 5) -> dict:
    result = retriever.search(question, k=k)
    names = [hit["name"] for hit in result["results"][:3]]
    passages = live.best_passages(retriever, question, names)
    for hit in result["results"]:
        hit.update(passages.get(hit["name"], {}))
    top = result["results"][0]["name"] if result["results"] else None
    return {"answer": top if result["answerable"] else None, "answerable": result["answerable"],
            "clear": result["clear"], "candidates": result["candidates"], "suggestions": result["suggestions"],
            "confidence": result["confidence"], "results": result["results"]}


def hit_test(question: str, draft: bool = True, guide: str | None = None) -> dict:
    """The published answer, and (draft=True) the answer with the open drafts, for one question."""
    question = (question or "").strip()
    if not question or len(question) > MAX_QUESTION:
        raise InvalidInput(f"请输入要测试的问题（{MAX_QUESTION}字以内）。", field="question")
    if guide and get_catalog().get(guide) is None and guide not in _drafts(guide):
        raise GuideNotFound("没有找到该办事指南。")
    out = {"question": question, "published": _view(get_retriever(), question), "draft": None, "drafts": []}
    if draft:
        retriever, names = draft_retriever(guide)
        out["draft"] = _view(retriever, question)
        out["drafts"] = names
        out["changed"] = out["draft"]["answer"] != out["published"]["answer"]
    return out


def eval_questions() -> list[dict]:
    questions = []
    for path in sorted(EVAL_DIR.glob("questions_*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if isinstance(row, dict) and row.get("q"):
                questions.append({"q": str(row["q"]), "guide": row.get("guide"), "set": path.stem})
    return questions


def _answers(retriever: Retriever, questions: list[dict], vectors) -> list[str | None]:
    out = []
    for i, row in enumerate(questions):
        result = retriever.search(row["q"], k=1, vector=None if vectors is None else vectors[i])
        out.append(result["results"][0]["name"] if result["answerable"] and result["results"] else None)
    return out


def evaluate(guide: str | None = None) -> dict:
    """Every evaluation question against the published guides and against the drafts: which answers change,
    which break (right before, wrong with the drafts) and which are fixed."""
    from nlu.textnorm import normalize

    questions = eval_questions()
    published = get_retriever()
    drafted, names = draft_retriever(guide)
    vectors = None
    if published.encoder is not None:
        vectors = published.encoder.queries([normalize(row["q"]) for row in questions])
    before = _answers(published, questions, vectors)
    after = before if drafted is published else _answers(drafted, questions, vectors)
    changes, counts = [], {"questions": len(questions), "changed": 0, "broken": 0, "fixed": 0,
                           "correct_published": 0, "correct_draft": 0}
    for row, old, new in zip(questions, before, after):
        expected = row["guide"]
        counts["correct_published"] += old == expected
        counts["correct_draft"] += new == expected
        if old == new:
            continue
        verdict = "broken" if old == expected else "fixed" if new == expected else "changed"
        counts["changed"] += 1
        counts[verdict] = counts.get(verdict, 0) + (verdict != "changed")
        changes.append({"question": row["q"], "expected": expected, "published": old, "draft": new,
                        "verdict": verdict, "set": row["set"]})
    order = {"broken": 0, "changed": 1, "fixed": 2}
    changes.sort(key=lambda c: order[c["verdict"]])
    return {"drafts": names, "summary": counts, "changes": changes}
