"""Schema of a service guide (办事指南) file.

One YAML file per guide under knowledge/guides/. Field names follow the standard
elements of a guide (seed 004) plus what an integrated 一件事 bundle adds. Loading
reports every problem with the file name and the dotted field path, so content
editors can fix a guide without reading code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PORTAL_NAME = "内蒙古政务服务网"
PLACEHOLDERS = ("待补充", "材料1", "材料2", "TODO", "xxx", "XXX", "示例材料")

FieldType = Literal["name", "id_number", "phone", "date", "address", "choice", "text"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CoveredItem(Strict):
    """One 政务服务事项 inside a bundle (or the single item itself)."""
    name: str
    department: str
    time_limit: str = Field(description="承诺办理时限 of this item, e.g. '即办' or '5个工作日'")
    aliases: list[str] = Field(default_factory=list,
                               description="what callers call this item, e.g. 营业执照 for 企业设立登记")


class Option(Strict):
    value: str
    label: str


class Situation(Strict):
    """A 办理情形 question whose answer changes the material list."""
    id: str
    question: str
    options: list[Option] = Field(min_length=2)


class Material(Strict):
    name: str
    form: Literal["原件", "复印件", "原件及复印件", "电子证照或原件", "电子版"]
    count: int = Field(ge=1, default=1)
    issuer: str = Field(description="who issues it: 申请人自备, 公安机关, 助产医疗机构 ...")
    note: str = ""
    items: list[str] = Field(default_factory=list, description="covered items needing it; empty = all")
    when: dict[str, list[str]] = Field(default_factory=dict, description="situation id -> option values")
    deferrable: bool = Field(False, description="容缺受理: may be missing at acceptance with a written commitment")


class Online(Strict):
    available: bool
    channels: list[str] = Field(default_factory=list)
    note: str = ""


class Where(Strict):
    windows: list[str] = Field(min_length=1)
    note: str = ""
    online: Online


class TimeLimit(Strict):
    legal: str
    promised: str


class Result(Strict):
    type: str
    name: str


class FormField(Strict):
    """A field of the merged one-table form (一表申请)."""
    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: FieldType
    options: list[str] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list, description="covered items needing it; empty = all")
    required: bool = True
    when: dict[str, list[str]] = Field(
        default_factory=dict,
        description="earlier choice field -> allowed values; asked (and required) only when every one matches")


class Guide(Strict):
    name: str
    code: str
    kind: Literal["bundle", "item"]
    audience: Literal["person", "business"]
    item_type: str = Field(description="事项类型: 行政许可 / 行政确认 / 行政给付 / 公共服务 ...")
    case_type: Literal["即办件", "承诺件"]
    region_wide: bool = Field(description="通办范围: true = 全区通办")
    legal_basis: list[str] = Field(min_length=1)
    result: Result
    level: str = Field(description="行使层级")
    time_limit: TimeLimit
    fee: str
    lead_department: str
    cooperating_departments: list[str] = Field(default_factory=list)
    items: list[CoveredItem] = Field(min_length=1)
    conditions: list[str] = Field(min_length=1)
    process: list[str] = Field(min_length=2)
    situations: list[Situation] = Field(default_factory=list)
    materials: list[Material] = Field(min_length=1)
    review_points: list[str] = Field(default_factory=list)
    templates: list[str] = Field(default_factory=list)
    where: Where
    deferral_note: str = Field("", description="容缺受理 rule for this guide")
    aliases: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    form: list[FormField] = Field(default_factory=list)
    disclaimer: str

    @field_validator("disclaimer")
    @classmethod
    def _names_portal(cls, value: str) -> str:
        if PORTAL_NAME not in value:
            raise ValueError(f"must say that the official guide on {PORTAL_NAME} prevails")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Guide":
        item_names = {i.name for i in self.items}
        situations = {s.id: {o.value for o in s.options} for s in self.situations}
        for m in self.materials:
            unknown = set(m.items) - item_names
            if unknown:
                raise ValueError(f"material {m.name!r} names unknown items {sorted(unknown)}")
            for sid, values in m.when.items():
                if sid not in situations:
                    raise ValueError(f"material {m.name!r} names unknown situation {sid!r}")
                if set(values) - situations[sid]:
                    raise ValueError(f"material {m.name!r} names unknown options of {sid!r}: {values}")
        seen: set[str] = set()
        earlier: dict[str, FormField] = {}
        all_fields = {f.field for f in self.form}
        for f in self.form:
            if f.field in seen:
                raise ValueError(f"form field {f.field!r} is defined twice")
            seen.add(f.field)
            if set(f.items) - item_names:
                raise ValueError(f"form field {f.field!r} names unknown items")
            if f.type == "choice" and len(f.options) < 2:
                raise ValueError(f"form field {f.field!r} of type choice needs options")
            _check_when(f, earlier, all_fields)
            earlier[f.field] = f
        text = yaml.safe_dump(self.model_dump(), allow_unicode=True)
        for marker in PLACEHOLDERS:
            if marker in text:
                raise ValueError(f"placeholder text {marker!r} is not allowed in a published guide")
        return self


def _check_when(f: FormField, earlier: dict[str, FormField], all_fields: set[str]) -> None:
    """A condition names an earlier choice field of the same form and only its options."""
    for name, values in f.when.items():
        where = f"form field {f.field!r}: when.{name}"
        if name not in earlier:
            if name == f.field or name in all_fields:
                raise ValueError(f"{where}: field {name!r} must come earlier in the form than {f.field!r}")
            raise ValueError(f"{where}: names unknown form field {name!r}")
        ctl = earlier[name]
        if ctl.type != "choice":
            raise ValueError(f"{where}: field {name!r} is of type {ctl.type}, a condition needs a choice field")
        if not values:
            raise ValueError(f"{where}: list at least one option of {name!r}")
        unknown = [v for v in values if v not in ctl.options]
        if unknown:
            raise ValueError(f"{where}: {unknown} are not options of {name!r} ({'、'.join(ctl.options)})")
        if ctl.items and (not f.items or set(f.items) - set(ctl.items)):
            raise ValueError(f"{where}: field {name!r} is not asked for every item that needs {f.field!r}; "
                             f"its items must include {f.items or 'all items'}")


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
}
# model-level rules name the part of the guide they are about in their message
_TOPICS = (("material", "materials"), ("form field", "form"), ("placeholder", "(guide)"))


def _zh(err: dict) -> str:
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "too_short":
        return f"至少需要{ctx.get('min_length', 1)}项"
    if kind == "literal_error":
        return "只能是：" + str(ctx.get("expected", "")).replace("'", "")
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
