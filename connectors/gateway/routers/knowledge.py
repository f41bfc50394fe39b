"""Knowledge search for other channels, and the printable one-time notice (一次性告知单)."""
from __future__ import annotations

import html

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from connectors.gateway.errors import ApiError
from connectors.gateway.schemas import ErrorResponse
from knowledge.catalog import get_catalog
from knowledge.notice import compose, parse_notice_query
from knowledge.retrieval import get_retriever

router = APIRouter(tags=["knowledge"])



class Hit(BaseModel):
    name: str
    score: float


class SearchResult(BaseModel):
    answerable: bool
    results: list[Hit]
    clear: bool
    candidates: list[str]
    suggestions: list[str] = []


@router.get("/api/knowledge/search", response_model=SearchResult)
def search(q: str = Query(min_length=1, max_length=500), k: int = Query(5, ge=1, le=20)) -> SearchResult:
    try:
        result = get_retriever().search(q, k=k)
    except FileNotFoundError as exc:
        raise ApiError(503, "index_unavailable") from exc
    return SearchResult.model_validate(result)


@router.get("/notice", response_class=HTMLResponse, responses={404: {"model": ErrorResponse}})
def notice(guide: str = Query(max_length=100), items: str = Query("", max_length=1000),
           situation: str = Query("", max_length=500)) -> HTMLResponse:
    found = get_catalog().get(guide)
    if found is None:
        raise ApiError(404, "guide_not_found")
    answer = compose(parse_notice_query(found, items, situation))
    return HTMLResponse(render_notice(answer))


def render_notice(answer: dict) -> str:
    data = answer["data"]
    e = html.escape
    rows = "".join(
        f"<tr><td>{n}</td><td>{e(m['name'])}</td><td>{e(m['form'])}</td><td>{m['count']}</td>"
        f"<td>{e(m['issuer'])}</td><td>{e('可容缺' if m['deferrable'] else '')}{e(('；仅限：' + m['condition']) if m['conditional'] else '')}"
        f"{('；' + e(m['note'])) if m['note'] else ''}</td></tr>"
        for n, m in enumerate(data["materials"], 1)
    )
    facts = [("办理事项", "、".join(data["items"])), ("办理地点", "；".join(data["where"])),
             ("网上办理", data["online"]), ("承诺时限", data["time_limit"]), ("法定时限", data["legal_time_limit"]),
             ("收费标准", data["fee"])]
    if data["deferral_note"]:
        facts.append(("容缺受理", data["deferral_note"]))
    fact_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts)
    disclaimer = answer["text"].rsplit("\n", 1)[-1]
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{e(data['guide'])} 一次性告知单</title>
<style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#222}}
h1{{font-size:1.5em;border-bottom:3px solid #b71c1c;padding-bottom:.3em}} table{{border-collapse:collapse;width:100%;margin:1em 0}}
th,td{{border:1px solid #999;padding:.45em;text-align:left;vertical-align:top}} th{{background:#f3f3f3;width:7em}}
.note{{color:#555;font-size:.9em}} @media print{{button{{display:none}}}}
</style></head><body>
<h1>{e(data['guide'])}　一次性告知单</h1>
<p class="note">事项编码：{e(data['code'])}　本告知单由12345政务服务便民热线智能客服生成</p>
<table>{fact_rows}</table>
<h2>申请材料（一套材料，共{len(data['materials'])}项）</h2>
<table><tr><th>序号</th><th>材料名称</th><th>形式</th><th>份数</th><th>出具单位</th><th>说明</th></tr>{rows}</table>
<p class="note">{e(disclaimer)}</p>
<button onclick="window.print()">打印</button>
</body></html>"""
