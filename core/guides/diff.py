"""Field-level differences between two versions of a guide (dicts in the schema's shape).

Lists of objects with a natural key are matched by that key, so inserting one material does not show every
later material as changed: materials and covered items by `name`, situations by `id`, form fields by `field`,
options by `value`. Other lists are compared as sequences (difflib), so a reworded condition is one change.

Each change: {"field": "materials[出生医学证明].count", "label": "申请材料 › 出生医学证明 › 份数",
"change": "added" | "removed" | "changed", "old": ..., "new": ...}.
"""
from __future__ import annotations

import difflib
from typing import Any

KEYS = {"materials": "name", "items": "name", "situations": "id", "form": "field", "options": "value"}
LABELS = {
    "name": "事项名称", "code": "事项编码", "kind": "类型", "audience": "服务对象", "item_type": "事项类型",
    "case_type": "办件类型", "region_wide": "全区通办", "legal_basis": "设定依据", "result": "办理结果",
    "type": "类型", "level": "行使层级", "time_limit": "办理时限", "legal": "法定时限", "promised": "承诺时限",
    "fee": "收费标准", "lead_department": "牵头部门", "cooperating_departments": "协办部门", "items": "包含事项",
    "department": "部门", "aliases": "别名", "conditions": "受理条件", "process": "办理流程", "situations": "办理情形",
    "question": "问题", "options": "选项", "value": "值", "label": "名称", "materials": "申请材料", "form": "形式",
    "count": "份数", "issuer": "出具单位", "note": "说明", "when": "适用情形", "deferrable": "容缺",
    "review_points": "审查要点", "templates": "表格模板", "where": "办理地点", "windows": "窗口", "online": "网上办理",
    "available": "可网办", "channels": "渠道", "deferral_note": "容缺说明", "examples": "示例问题",
    "disclaimer": "免责声明", "field": "字段", "required": "必填", "id": "编号",
}
FORM_LABELS = {"type": "类型", "label": "名称", "options": "选项", "items": "适用事项"}


def _label(path: list[str]) -> str:
    parts = []
    for i, part in enumerate(path):
        if part.startswith("["):
            parts.append(part[1:-1])
        elif path[:1] == ["form"] and i > 0 and part in FORM_LABELS:
            parts.append(FORM_LABELS[part])
        elif path[:1] == ["form"] and i == 0:
            parts.append("一表申请字段")
        else:
            parts.append(LABELS.get(part, part))
    return " › ".join(parts)


def _field(path: list[str]) -> str:
    out = ""
    for part in path:
        out += part if part.startswith("[") or not out else "." + part
    return out


def _change(path: list[str], kind: str, old: Any, new: Any) -> dict:
    return {"field": _field(path), "label": _label(path), "change": kind, "old": old, "new": new}


def _walk(a: Any, b: Any, path: list[str], out: list[dict]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in b:
                out.append(_change(path + [key], "removed", a[key], None))
            elif key not in a:
                out.append(_change(path + [key], "added", None, b[key]))
            else:
                _walk(a[key], b[key], path + [key], out)
        return
    if isinstance(a, list) and isinstance(b, list):
        key = KEYS.get(path[-1]) if path else None
        if key and all(isinstance(x, dict) and key in x for x in a + b):
            old = {x[key]: x for x in a}
            new = {x[key]: x for x in b}
            if len(old) == len(a) and len(new) == len(b):
                for item in a:
                    name = item[key]
                    if name not in new:
                        out.append(_change(path + [f"[{name}]"], "removed", item, None))
                    else:
                        _walk(item, new[name], path + [f"[{name}]"], out)
                for item in b:
                    if item[key] not in old:
                        out.append(_change(path + [f"[{item[key]}]"], "added", None, item))
                if [x[key] for x in a if x[key] in new] != [x[key] for x in b if x[key] in old]:
                    out.append(_change(path, "reordered", [x[key] for x in a], [x[key] for x in b]))
                return
        matcher = difflib.SequenceMatcher(a=[repr(x) for x in a], b=[repr(x) for x in b], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            if tag == "replace" and i2 - i1 == j2 - j1:
                for offset in range(i2 - i1):
                    _walk(a[i1 + offset], b[j1 + offset], path + [f"[{i1 + offset + 1}]"], out)
                continue
            for i in range(i1, i2):
                out.append(_change(path + [f"[{i + 1}]"], "removed", a[i], None))
            for j in range(j1, j2):
                out.append(_change(path + [f"[{j + 1}]"], "added", None, b[j]))
        return
    out.append(_change(path, "changed", a, b))


def diff_guides(old: dict, new: dict) -> list[dict]:
    out: list[dict] = []
    _walk(old or {}, new or {}, [], out)
    return out
