"""Schema of a service guide (办事指南) file.

One YAML file per guide under knowledge/guides/. Field names follow the standard
elements of a guide (seed 004) plus what an integrated 一件事 bundle adds. Loading
reports every problem with the file name and the dotted field path, so content
editors can fix a guide without reading code.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator,
                      model_validator)

PORTAL_NAME = "内蒙古政务服务网"
PLACEHOLDERS = ("待补充", "材料1", "材料2", "TODO", "xxx", "XXX", "示例材料")

FieldType = Literal["name", "id_number", "phone", "date", "address", "choice", "text"]

# What callers read: a name, a department, a window is never blank (spaces alone included) and never a wall of
# text; notes and list entries (conditions, steps, legal basis) may be longer, but bounded.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CoveredItem(Strict):
    """One 政务服务事项 inside a bundle (or the single item itself)."""
    name: Text
    department: Text
    time_limit: Text = Field(description="承诺办理时限 of this item, e.g. '即办' or '5个工作日'")
    aliases: list[Text] = Field(default_factory=list,
                                description="what callers call this item, e.g. 营业执照 for 企业设立登记")


class Option(Strict):
    value: Text
    label: Text


class Situation(Strict):
    """A 办理情形 question whose answer changes the material list."""
    id: Text
    question: Line
    options: list[Option] = Field(min_length=2)


class Material(Strict):
    name: Text
    form: Literal["原件", "复印件", "原件及复印件", "电子证照或原件", "电子版"]
    count: int = Field(ge=1, default=1)
    issuer: Text = Field(description="who issues it: 申请人自备, 公安机关, 助产医疗机构 ...")
    note: Note = ""
    items: list[str] = Field(default_factory=list, description="covered items needing it; empty = all")
    when: dict[str, list[str]] = Field(default_factory=dict, description="situation id -> option values")
    deferrable: bool = Field(False, description="容缺受理: may be missing at acceptance with a written commitment")


class Online(Strict):
    available: bool
    channels: list[Line] = Field(default_factory=list)
    note: Note = ""


class Where(Strict):
    windows: list[Line] = Field(min_length=1)
    note: Note = ""
    online: Online


class TimeLimit(Strict):
    legal: Text
    promised: Text


class Result(Strict):
    type: Text
    name: Text


class FormField(Strict):
    """A field of the merged one-table form (一表申请)."""
    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Text
    type: FieldType
    options: list[str] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list, description="covered items needing it; empty = all")
    required: bool = True
    when: dict[str, list[str]] = Field(
        default_factory=dict,
        description="earlier choice field -> allowed values; asked (and required) only when every one matches")


class Guide(Strict):
    name: Text
    code: Text
    kind: Literal["bundle", "item"]
    audience: Literal["person", "business"]
    item_type: Text = Field(description="事项类型: 行政许可 / 行政确认 / 行政给付 / 公共服务 ...")
    case_type: Literal["即办件", "承诺件"]
    region_wide: bool = Field(description="通办范围: true = 全区通办")
    legal_basis: list[Line] = Field(min_length=1)
    result: Result
    level: Text = Field(description="行使层级")
    time_limit: TimeLimit
    fee: Line
    lead_department: Text
    cooperating_departments: list[Text] = Field(default_factory=list)
    items: list[CoveredItem] = Field(min_length=1)
    conditions: list[Line] = Field(min_length=1)
    process: list[Line] = Field(min_length=2)
    situations: list[Situation] = Field(default_factory=list)
    materials: list[Material] = Field(min_length=1)
    review_points: list[Line] = Field(default_factory=list)
    templates: list[Line] = Field(default_factory=list)
    where: Where
    deferral_note: Note = Field("", description="容缺受理 rule for this guide")
    aliases: list[Text] = Field(default_factory=list)
    examples: list[Line] = Field(default_factory=list)
    form: list[FormField] = Field(default_factory=list)
    disclaimer: Line

    @field_validator("disclaimer")
    @classmethod
    def _names_portal(cls, value: str) -> str:
        if PORTAL_NAME not in value:
            raise ValueError(f"须注明以{PORTAL_NAME}公布的办事指南为准")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Guide":
        item_names = {i.name for i in self.items}
        situations = {s.id: {o.value for o in s.options} for s in self.situations}
        listed: set[tuple] = set()
        for m in self.materials:
            key = (m.name, tuple(m.items), tuple(sorted((k, tuple(v)) for k, v in m.when.items())))
            if key in listed:
                raise ValueError(f"材料“{m.name}”重复列出")
            listed.add(key)
            unknown = set(m.items) - item_names
            if unknown:
                raise ValueError(f"材料“{m.name}”的适用事项不在本指南中：{'、'.join(sorted(unknown))}")
            for sid, values in m.when.items():
                if sid not in situations:
                    raise ValueError(f"材料“{m.name}”写了本指南没有的办理情形：{sid}")
                if set(values) - situations[sid]:
                    raise ValueError(f"材料“{m.name}”写了办理情形“{sid}”没有的选项：{'、'.join(values)}")
        seen: set[str] = set()
        earlier: dict[str, FormField] = {}
        all_fields = {f.field for f in self.form}
        for f in self.form:
            if f.field in seen:
                raise ValueError(f"表单字段“{f.field}”重复定义")
            seen.add(f.field)
            if set(f.items) - item_names:
                raise ValueError(f"表单字段“{f.field}”的适用事项不在本指南中")
            if f.type == "choice" and len(f.options) < 2:
                raise ValueError(f"表单字段“{f.field}”是选择题，至少需要2个选项")
            _check_when(f, earlier, all_fields)
            earlier[f.field] = f
        text = yaml.safe_dump(self.model_dump(), allow_unicode=True)
        for marker in PLACEHOLDERS:
            if marker in text:
                raise ValueError(f"占位文字“{marker}”不能出现在发布的指南中")
        return self


def _check_when(f: FormField, earlier: dict[str, FormField], all_fields: set[str]) -> None:
    """A condition names an earlier choice field of the same form and only its options."""
    for name, values in f.when.items():
        where = f"表单字段“{f.field}”的条件 when.{name}"
        if name not in earlier:
            if name == f.field or name in all_fields:
                raise ValueError(f"{where}：字段“{name}”须排在“{f.field}”之前")
            raise ValueError(f"{where}：没有这个表单字段“{name}”")
        ctl = earlier[name]
        if ctl.type != "choice":
            raise ValueError(f"{where}：字段“{name}”是{ctl.type}类型，条件只能用选择题字段")
        if not values:
            raise ValueError(f"{where}：请至少列出“{name}”的一个选项")
        unknown = [v for v in values if v not in ctl.options]
        if unknown:
            raise ValueError(f"{where}：{'、'.join(unknown)}不是“{name}”的选项（{'、'.join(ctl.options)}）")
        if ctl.items and (not f.items or set(f.items) - set(ctl.items)):
            raise ValueError(f"{where}：凡需要“{f.field}”的事项都要先问“{name}”，“{name}”的适用事项须包括"
                             f"{'、'.join(f.items) if f.items else '全部事项'}")


class GuideError(ValueError):
    """A guide file that cannot be published; the message names file and field."""


def load_guide(path: Path) -> Guide:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise GuideError(f"{path.name}: cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise GuideError(f"{path.name}: top level must be a mapping of guide fields")
    try:
        return Guide.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(guide)'}: {err['msg']}" for err in exc.errors()
        )
        raise GuideError(f"{path.name}: {problems}") from exc


def load_guides(folder: Path) -> list[Guide]:
    """Load every guide; raise one GuideError listing all broken files."""
    guides, errors = [], []
    for path in sorted(folder.glob("*.yaml")):
        try:
            guides.append(load_guide(path))
        except GuideError as exc:
            errors.append(str(exc))
    if errors:
        raise GuideError("\n".join(errors))
    names = [g.name for g in guides]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise GuideError(f"guide names used twice: {sorted(dupes)}")
    return guides


# -- per-field errors for the guide editor (docs/API.md, "Guide editor") -----------------------------------------
_MESSAGES_ZH = {
    "missing": "必填",
    "extra_forbidden": "不认识的字段",
    "string_type": "应为文字",
    "bool_type": "应为是/否",
    "bool_parsing": "应为是/否",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "greater_than_equal": "不能小于{ge}",
    "string_pattern_mismatch": "只能用小写字母、数字和下划线，且以字母开头",
    "string_too_short": "不能为空",
    "string_too_long": "不能超过{max_length}个字",
}
# model-level rules name the part of the guide they are about in their message
_TOPICS = (("材料", "materials"), ("表单字段", "form"), ("占位文字", "(guide)"))


def _zh(err: dict) -> str:
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "too_short":
        return f"至少需要{ctx.get('min_length', 1)}项"
    if kind == "literal_error":
        return "只能是：" + re.sub(r",\s*|\s+or\s+", "、", str(ctx.get("expected", "")).replace("'", ""))
    if kind in _MESSAGES_ZH:
        return _MESSAGES_ZH[kind].format(**ctx)
    message = str(err.get("msg", ""))
    return message.removeprefix("Value error, ")


def field_errors(raw: object) -> tuple[Guide | None, list[dict]]:
    """Validate a guide given as data: (the Guide, []) or (None, [{"field": "materials.0.form", "message"}]).

    `field` is the dotted path of the schema field (list positions as numbers); rules that concern the whole
    guide report the list they are about ("materials", "form") or "(guide)". Messages are Simplified Chinese.
    """
    if not isinstance(raw, dict):
        return None, [{"field": "(guide)", "message": "应为一份办事指南（字段的对象）"}]
    try:
        return Guide.model_validate(raw), []
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"])
            message = _zh(err)
            if not path:
                path = next((topic for word, topic in _TOPICS if message.startswith(word)), "(guide)")
            out.append({"field": path, "message": message})
        return None, out
