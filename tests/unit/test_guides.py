"""The published guides cover the service catalogue, and broken guides are reported usefully."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from knowledge.schema import GuideError, load_guide, load_guides
from tests.shared_data import shared_data

ROOT = Path(__file__).resolve().parents[2]
GUIDES_DIR = ROOT / "knowledge" / "guides"


def _catalog_path() -> Path:
    env = os.environ.get("CATALOG_PATH", "").strip()
    return Path(env) if env else shared_data().parent / "catalog.yaml"   # ../shared/catalog.yaml


def _catalog_entries() -> list[dict]:
    path = _catalog_path()
    if not path.exists():
        pytest.skip(f"service catalogue not found at {path} (set CATALOG_PATH)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [entry for section in data.values() for entry in section]


@pytest.fixture(scope="module")
def guides_by_name():
    guides = load_guides(GUIDES_DIR)  # raises GuideError naming every broken file
    by_name: dict[str, list] = {}
    for guide in guides:
        by_name.setdefault(guide.name, []).append(guide)
    return by_name


def test_catalogue_is_readable():
    entries = _catalog_entries()
    assert entries, "catalogue has no entries"
    assert all("name" in e and "kind" in e for e in entries)


def test_every_catalogue_entry_has_exactly_one_guide(guides_by_name):
    missing, doubled = [], []
    for entry in _catalog_entries():
        found = guides_by_name.get(entry["name"], [])
        if not found:
            missing.append(entry["name"])
        elif len(found) > 1:
            doubled.append(entry["name"])
    assert not missing, f"catalogue entries without a published guide: {missing}"
    assert not doubled, f"catalogue entries with more than one guide: {doubled}"


def test_guides_carry_the_catalogue_kind_audience_and_covered_items(guides_by_name):
    problems = []
    for entry in _catalog_entries():
        found = guides_by_name.get(entry["name"])
        if not found:
            continue  # reported by the test above
        guide = found[0]
        if guide.kind != entry["kind"]:
            problems.append(f"{guide.name}: kind {guide.kind!r}, catalogue says {entry['kind']!r}")
        if entry.get("for") and guide.audience != entry["for"]:
            problems.append(f"{guide.name}: audience {guide.audience!r}, catalogue says {entry['for']!r}")
        covered = {item.name for item in guide.items}
        absent = [name for name in entry.get("covers", []) if name not in covered]
        if absent:
            problems.append(f"{guide.name}: covered items missing {absent}")
    assert not problems, "\n".join(problems)


def test_guide_files_are_unique_and_all_load():
    paths = sorted(GUIDES_DIR.glob("*.yaml"))
    assert paths, "no guides published"
    assert len(load_guides(GUIDES_DIR)) == len(paths)


def _valid_guide() -> dict:
    path = GUIDES_DIR / "xinshenger_chusheng.yaml"
    if not path.exists():
        path = sorted(GUIDES_DIR.glob("*.yaml"))[0]
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_validation_error_names_file_and_field(tmp_path):
    raw = _valid_guide()
    raw["case_type"] = "随便件"                      # not an allowed value
    raw["materials"][0]["form"] = "手抄件"            # nested field
    del raw["lead_department"]                        # required field missing
    broken = tmp_path / "broken_guide.yaml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")

    with pytest.raises(GuideError) as info:
        load_guide(broken)
    message = str(info.value)
    assert message.startswith("broken_guide.yaml:")
    assert "case_type" in message
    assert "materials.0.form" in message
    assert "lead_department" in message


def test_load_guides_lists_every_broken_file(tmp_path):
    good = _valid_guide()
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    bad = dict(good, name="另一个指南", disclaimer="以本指南为准。")  # does not name the portal
    (tmp_path / "no_portal.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    (tmp_path / "not_yaml.yaml").write_text("name: [unclosed", encoding="utf-8")

    with pytest.raises(GuideError) as info:
        load_guides(tmp_path)
    message = str(info.value)
    assert "no_portal.yaml: disclaimer" in message
    assert "not_yaml.yaml: cannot read YAML" in message
    assert "good.yaml" not in message.replace("no_portal.yaml", "")


def _sscard_guide() -> dict:
    return yaml.safe_load((GUIDES_DIR / "shehui_baozhangka_jumin_fuwu.yaml").read_text(encoding="utf-8"))


def _form_field(raw: dict, name: str) -> dict:
    return next(f for f in raw["form"] if f["field"] == name)


@pytest.mark.parametrize("when, expected", [
    ({"no_such_field": ["开通"]}, "没有这个表单字段“no_such_field”"),
    ({"agent_name": ["李芳"]}, "须排在“delivery_address”之前"),                # a later field
    ({"delivery_address": ["x"]}, "须排在“delivery_address”之前"),            # itself
    ({"applicant_phone": ["13700001234"]}, "条件只能用选择题字段"),
    ({"service_type": ["补办"]}, "不是“service_type”的选项"),
    ({"service_type": []}, "请至少列出“service_type”的一个选项"),
])
def test_form_conditions_are_checked(tmp_path, when, expected):
    raw = _sscard_guide()
    _form_field(raw, "delivery_address")["when"] = when
    path = tmp_path / "when_guide.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(GuideError) as info:
        load_guide(path)
    message = str(info.value)
    assert message.startswith("when_guide.yaml:") and "表单字段“delivery_address”" in message
    assert expected in message, message


def test_a_condition_needs_its_choice_wherever_the_field_is_asked(tmp_path):
    raw = _sscard_guide()
    _form_field(raw, "delivery_address")["items"] = ["社会保障卡挂失"]   # delivery_method is not asked for 挂失
    path = tmp_path / "when_items.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(GuideError, match="都要先问"):
        load_guide(path)
