"""Import and export of guides: YAML (the schema's shape, as in knowledge/guides/) and a spreadsheet (CSV, UTF-8
with a byte-order mark so Excel opens it) with one row per guide and the standard guide elements as columns.

An import never publishes: every guide that differs from what is stored becomes (or replaces) its draft, to
be reviewed and published as usual; each row or document is checked on its own and reported with its errors.

Spreadsheet cells that hold lists take one entry per line; a material is one line
`名称|形式|份数|出具单位|说明|容缺`; 网上办理 is `是：渠道1、渠道2；说明` (or `否：...`). Columns the spreadsheet does not carry
(办理情形, 包含事项 of a bundle, 一表申请 fields, and the situations/items a stored material applies to) are kept
from the stored guide; a new guide gets one covered item named after it.
"""
from __future__ import annotations

import copy
import csv
import io
from typing import Any

import yaml

from core.guides import store
from core.guides.errors import GuideNotFound, InvalidInput
from knowledge.schema import PORTAL_NAME, field_errors

MAX_ROWS = 2000
COLUMNS: list[tuple[str, str]] = [
    ("事项名称", "name"), ("事项编码", "code"), ("事项类型", "item_type"), ("办件类型", "case_type"),
    ("服务对象", "audience"), ("通办范围", "region_wide"), ("设定依据", "legal_basis"),
    ("审批结果类型", "result.type"), ("审批结果名称", "result.name"), ("行使层级", "level"),
    ("法定办理时限", "time_limit.legal"), ("承诺办理时限", "time_limit.promised"), ("收费标准", "fee"),
    ("牵头部门", "lead_department"), ("协办部门", "cooperating_departments"), ("受理条件", "conditions"),
    ("办事流程", "process"), ("申请材料", "materials"), ("审查要点", "review_points"), ("材料模板", "templates"),
    ("办理地点", "where.windows"), ("地点说明", "where.note"), ("网上办理", "where.online"),
    ("容缺受理", "deferral_note"), ("别名", "aliases"), ("示例问题", "examples"), ("免责声明", "disclaimer"),
]
LISTS = {"legal_basis", "cooperating_departments", "conditions", "process", "review_points", "templates",
         "where.windows", "aliases", "examples"}
AUDIENCE = {"person": "个人", "business": "法人"}
DISCLAIMER = f"本指南仅供参考，以{PORTAL_NAME}公布的办事指南为准。"


# -- export ----------------------------------------------------------------------------------------------------
def _guides(name: str | None, source: str) -> list[dict]:
    if name:
        getter = store.get_draft if source == "draft" else store.get_published
        return [getter(name)["guide"]]
    out = []
    for entry in store.list_guides():
        try:
            out.append((store.get_draft if source == "draft" and entry["draft"] else store.get_published)(
                entry["name"])["guide"])
        except GuideNotFound:
            continue
    return out


def export_yaml(name: str | None = None, source: str = "published") -> str:
    guides = _guides(name, source)
    data = guides[0] if name else guides
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _material_line(m: dict) -> str:
    return "|".join([m["name"], m["form"], str(m.get("count", 1)), m.get("issuer", ""), m.get("note", ""),
                     "容缺" if m.get("deferrable") else ""]).rstrip("|")


def _cell(guide: dict, path: str) -> str:
    if path == "materials":
        return "\n".join(_material_line(m) for m in guide.get("materials", []))
    if path == "audience":
        return AUDIENCE.get(guide.get("audience", ""), guide.get("audience", ""))
    if path == "region_wide":
        return "全区通办" if guide.get("region_wide") else "否"
    if path == "where.online":
        online = guide.get("where", {}).get("online", {})
        text = ("是" if online.get("available") else "否") + "：" + "、".join(online.get("channels", []))
        return (text + (f"；{online['note']}" if online.get("note") else "")).rstrip("：")
    value: Any = guide
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def export_csv(name: str | None = None, source: str = "published") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title for title, _ in COLUMNS])
    for guide in _guides(name, source):
        writer.writerow([_cell(guide, path) for _, path in COLUMNS])
    return "\ufeff" + buffer.getvalue()


# -- import ----------------------------------------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    return [line.strip() for line in str(text or "").replace("\r", "\n").split("\n") if line.strip()]


def _parse_online(text: str) -> dict:
    head, _, rest = text.strip().replace(":", "：").partition("：")
    channels, _, note = rest.partition("；")
    return {"available": head.strip() not in ("否", "不支持", "无", ""),
            "channels": [c.strip() for c in channels.replace(",", "、").split("、") if c.strip()],
            "note": note.strip()}


def _parse_materials(text: str, stored: list[dict], row_errors: list[dict]) -> list[dict]:
    by_name = {m["name"]: m for m in stored}
    out = []
    for n, line in enumerate(_lines(text), 1):
        parts = [p.strip() for p in line.split("|")]
        parts += [""] * (6 - len(parts))
        name, form, count, issuer, note, deferrable = parts[:6]
        try:
            count_value = int(count or 1)
        except ValueError:
            row_errors.append({"field": f"materials.{n - 1}.count", "message": f"申请材料第{n}行的份数应为整数"})
            count_value = 1
        old = by_name.get(name, {})
        out.append({"name": name, "form": form or old.get("form", ""), "count": count_value,
                    "issuer": issuer or old.get("issuer", ""), "note": note, "items": old.get("items", []),
                    "when": old.get("when", {}), "deferrable": deferrable in ("容缺", "是", "可容缺", "true", "1")})
    return out


def _set(target: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _stored(name: str) -> dict | None:
    for getter in (store.get_draft, store.get_published):
        try:
            return getter(name)["guide"]
        except GuideNotFound:
            continue
    return None


def guide_from_row(row: dict[str, str], stored: dict | None) -> tuple[dict, list[dict]]:
    """A guide (as data) from one spreadsheet row, on top of `stored` (the stored guide of that name, if any)."""
    name = (row.get("事项名称") or "").strip()
    errors: list[dict] = []
    guide: dict = copy.deepcopy(stored) if stored else {
        "kind": "item", "items": [], "situations": [], "form": [], "disclaimer": DISCLAIMER,
        "where": {"windows": [], "note": "", "online": {"available": False, "channels": [], "note": ""}},
    }
    for title, path in COLUMNS:
        if title not in row or row[title] is None:
            continue
        text = str(row[title]).strip()
        if path == "materials":
            value: Any = _parse_materials(text, (stored or {}).get("materials", []), errors)
        elif path == "audience":
            value = {"个人": "person", "自然人": "person", "法人": "business", "企业": "business"}.get(text, text)
        elif path == "region_wide":
            value = text in ("全区通办", "是", "true", "1")
        elif path == "where.online":
            value = _parse_online(text)
        elif path in LISTS:
            value = _lines(text)
        else:
            if not text and path in ("where.note", "deferral_note"):
                value = ""
            elif not text:
                continue
            else:
                value = text
        _set(guide, path, value)
    if not guide.get("items") and name:
        guide["items"] = [{"name": name, "department": guide.get("lead_department", ""),
                           "time_limit": guide.get("time_limit", {}).get("promised", ""), "aliases": []}]
    return guide, errors


def _save(name: str, data: dict, current: dict | None, actor: Any, errors: list[dict]) -> dict:
    """Save `data` as the draft of `name` unless it has errors or equals `current` (its draft, else live version)."""
    if errors:
        return {"name": name, "status": "error", "errors": errors}
    guide, problems = field_errors(data)
    if guide is None:
        return {"name": name, "status": "error", "errors": problems}
    if current is not None and store.content_hash(current) == store.content_hash(store.content_of(guide)):
        return {"name": name, "status": "unchanged", "errors": []}
    store.save_draft(name, data, actor, note="批量导入", source="import")
    return {"name": name, "status": "draft_saved", "errors": []}


def _report(rows: list[dict]) -> dict:
    return {"rows": rows, "saved": sum(r["status"] == "draft_saved" for r in rows),
            "unchanged": sum(r["status"] == "unchanged" for r in rows),
            "failed": sum(r["status"] == "error" for r in rows)}


def import_csv(text: str, actor: Any) -> dict:
    store._require_edit(actor)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or "事项名称" not in reader.fieldnames:
        raise InvalidInput("表格第一行应为表头，且包含“事项名称”列。", field="file")
    unknown = [f for f in reader.fieldnames if f and f not in dict(COLUMNS)]
    rows = []
    for number, row in enumerate(reader, 2):          # row 1 is the header
        if number - 1 > MAX_ROWS:
            raise InvalidInput(f"一次最多导入{MAX_ROWS}行。", field="file")
        name = (row.get("事项名称") or "").strip()
        if not name:
            if any((v or "").strip() for v in row.values() if isinstance(v, str)):
                rows.append({"row": number, "name": "", "status": "error",
                             "errors": [{"field": "name", "message": "必填"}]})
            continue
        stored = _stored(name)
        data, errors = guide_from_row(row, stored)
        rows.append({"row": number, **_save(name, data, stored, actor, errors)})
    report = _report(rows)
    report["ignored_columns"] = unknown
    return report


def import_yaml(text: str, actor: Any) -> dict:
    store._require_edit(actor)
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InvalidInput(f"YAML 格式错误：{str(exc)[:200]}", field="file") from exc
    guides: list = []
    for doc in documents:
        guides.extend(doc if isinstance(doc, list) else [doc])
    if len(guides) > MAX_ROWS:
        raise InvalidInput(f"一次最多导入{MAX_ROWS}份指南。", field="file")
    rows = []
    for number, data in enumerate(guides, 1):
        name = data.get("name", "") if isinstance(data, dict) else ""
        if not isinstance(data, dict) or not isinstance(name, str) or not name.strip():
            rows.append({"row": number, "name": "", "status": "error",
                         "errors": [{"field": "name", "message": "必填"}]})
            continue
        rows.append({"row": number, **_save(name, data, _stored(name), actor, [])})
    return _report(rows)
