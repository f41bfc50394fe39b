"""The merged one-table form (一表申请) of a guide, derived from the knowledge base.

A bundle's guide lists each form field once with the covered items that need it
(knowledge/guides/*.yaml `form`). For the items a caller chose, the form is the fields
needed by at least one of them, in the guide's order. A field may also depend on earlier
answers (`when`: choice field -> allowed values): it is asked, required, shown and kept only
while every one of those answers is one of the allowed values. Nothing about forms is hard-coded.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Iterable

from core import validators
from knowledge.schema import Guide


@dataclass(frozen=True)
class FieldSpec:
    field: str
    label: str
    type: str
    options: tuple[str, ...] = ()
    needed_by: tuple[str, ...] = ()   # covered items that need this field
    required: bool = True
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()   # earlier choice field -> allowed values

    def condition_met(self, data: dict[str, Any], active: set[str]) -> bool:
        """Every controlling field is itself applicable (in `active`) and answered with an allowed value."""
        return all(name in active and data.get(name) in allowed for name, allowed in self.when)

    def ruled_out(self, data: dict[str, Any], ruled: set[str]) -> bool:
        """A controlling field is ruled out itself or already answered with a value that is not allowed."""
        return any(name in ruled or (data.get(name) is not None and data.get(name) not in allowed)
                   for name, allowed in self.when)

    @property
    def rule(self) -> str:
        """The validation rule in words (shown in API docs and form definitions)."""
        return {
            "name": "汉字姓名2-8字，少数民族姓名可用“·”分隔",
            "id_number": "18位居民身份证号码：地区码、出生日期、校验码均有效",
            "phone": "11位手机号码，或带区号的固定电话",
            "date": "真实日历日期" + ("，不晚于今天" if validators.past_only(self.label) else ""),
            "address": "详细地址，含市、旗县区和街道门牌号",
            "choice": "从选项中选择一个：" + "、".join(self.options),
            "text": "1-200字",
        }[self.type]

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "label": self.label, "type": self.type, "options": list(self.options),
                "needed_by": list(self.needed_by), "required": self.required, "rule": self.rule,
                "when": {name: list(allowed) for name, allowed in self.when}}

    def validate(self, raw: Any, *, today: date | None = None) -> validators.Check:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.required:
                return validators.Check(False, None, f"“{self.label}”为必填项。")
            return validators.Check(True, "")
        if not isinstance(raw, (str, int, float)):
            return validators.Check(False, None, f"“{self.label}”应为文字。")
        return validators.validate_value(self.type, str(raw), options=self.options, label=self.label, today=today)


@dataclass(frozen=True)
class ApplicationForm:
    guide: str
    items: tuple[str, ...]
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)
    other_fields: tuple[str, ...] = ()   # fields of the guide that only items not chosen need

    def get(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.field == name), None)

    def active(self, data: dict[str, Any]) -> list[FieldSpec]:
        """The fields that apply given the answers so far (conditions met), in form order."""
        names: set[str] = set()
        out = []
        for f in self.fields:
            if f.condition_met(data, names):
                names.add(f.field)
                out.append(f)
        return out

    def ruled_out(self, data: dict[str, Any]) -> set[str]:
        """Fields whose condition an answer already given rules out (not those still waiting for one)."""
        ruled: set[str] = set()
        for f in self.fields:
            if f.when and f.ruled_out(data, ruled):
                ruled.add(f.field)
        return ruled

    def open_fields(self, data: dict[str, Any]) -> "ApplicationForm":
        """This form without the fields ruled out by the answers so far (what a caller can still fill)."""
        ruled = self.ruled_out(data)
        if not ruled:
            return self
        return replace(self, fields=tuple(f for f in self.fields if f.field not in ruled))

    def prune(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """(data without the values of fields an answer rules out, names of the fields dropped).

        A value volunteered for a field whose controlling question is still unanswered is kept.
        """
        ruled = self.ruled_out(data)
        dropped = [f.field for f in self.fields if f.field in ruled and f.field in data]
        return {k: v for k, v in data.items() if k not in dropped}, dropped

    def missing(self, data: dict[str, Any]) -> list[FieldSpec]:
        return [f for f in self.active(data) if data.get(f.field) is None]

    def as_dict(self) -> dict[str, Any]:
        return {"guide": self.guide, "items": list(self.items), "fields": [f.as_dict() for f in self.fields]}

    def validate(self, data: dict[str, Any], *, today: date | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """(clean values, errors by field). Unknown keys are errors too, so typos do not vanish silently.

        A field whose condition the (clean) earlier answers do not meet is neither required nor kept.
        """
        clean: dict[str, str] = {}
        errors: dict[str, str] = {}
        for key in data:
            if self.get(key) is None and key not in self.other_fields:
                errors[key] = "该申请表没有这一项。"
        active: set[str] = set()
        for spec in self.fields:
            if spec.when and not spec.condition_met(clean, active):
                continue
            active.add(spec.field)
            check = spec.validate(data.get(spec.field), today=today)
            if check.ok:
                clean[spec.field] = check.value or ""
            else:
                errors[spec.field] = check.error
        for name, reason in validators.cross_check(self.fields, clean, today=today).items():
            errors.setdefault(name, reason)
        return clean, errors


class UnknownItems(ValueError):
    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        super().__init__(f"unknown items: {unknown}")


def resolve_items(guide: Guide, chosen: Iterable[str] | None) -> tuple[str, ...]:
    """The chosen covered items in the guide's order; none chosen = all. Raises UnknownItems."""
    names = [i.name for i in guide.items]
    wanted = [str(c).strip() for c in (chosen or []) if str(c).strip()]
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise UnknownItems(unknown)
    return tuple(n for n in names if n in wanted) or tuple(names)


def form_for(guide: Guide, chosen: Iterable[str] | None = None) -> ApplicationForm:
    items = resolve_items(guide, chosen)
    all_items = tuple(i.name for i in guide.items)
    fields = []
    for f in guide.form:
        needed_by = tuple(f.items) or all_items
        if set(needed_by) & set(items):
            fields.append(FieldSpec(f.field, f.label, f.type, tuple(f.options),
                                    tuple(i for i in needed_by if i in items), f.required,
                                    tuple((name, tuple(allowed)) for name, allowed in f.when.items())))
    chosen = {f.field for f in fields}
    return ApplicationForm(guide.name, items, tuple(fields), tuple(f.field for f in guide.form if f.field not in chosen))
