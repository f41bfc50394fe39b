"""The guide store (core/guides): seed from YAML, drafts with per-field errors, review, publish with the reviewer
right, versions, field-level diff, rollback as a new version, effective/expiry dates, what every process follows
(revision + published guides), the in-memory index that follows a publish, the unanswered queue, import/export."""
from __future__ import annotations

import copy
import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from core.db import get_engine, session_scope
from core.guides import GuideNotFound, InvalidGuide, InvalidInput, InvalidState, NotAllowed
from core.guides import store, transfer, unanswered
from core.guides.diff import diff_guides
from core.models import Base
from core.settings import get_settings
from core.staff import audit_entries
from knowledge.schema import load_guide
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "knowledge" / "guides"
NAME = "居民身份证换领补领"
FILE = GUIDES / "shenfenzheng_huanling_buling.yaml"


@pytest.fixture
def seeded(staff_db, tmp_path):
    folder = tmp_path / "guides"
    folder.mkdir()
    for name in ("shenfenzheng_huanling_buling.yaml", "xinshenger_chusheng.yaml", "tuixiu.yaml"):
        (folder / name).write_text((GUIDES / name).read_text(encoding="utf-8"), encoding="utf-8")
    report = store.seed_from_folder(folder)
    assert sorted(report.added) == sorted(["居民身份证换领补领", "新生儿出生一件事", "退休一件事"])
    return folder


@pytest.fixture
def people(make_staff):
    return {"editor": make_staff("editor").principal, "editor2": make_staff("editor").principal,
            "supervisor": make_staff("supervisor").principal, "admin": make_staff("admin").principal,
            "agent": make_staff("agent").principal}


def edited(change) -> dict:
    content = copy.deepcopy(store.get_published(NAME)["guide"])
    change(content)
    return content


def add_material(content: dict, name: str = "近期免冠照片") -> None:
    content["materials"].append({"name": name, "form": "原件", "count": 2, "issuer": "申请人自备", "note": "",
                                 "items": [], "when": {}, "deferrable": False})


def test_seed_imports_every_yaml_guide_as_published_version_1(seeded):
    view = store.get_published(NAME)
    assert view["version"] == 1 and view["source"] == "seed" and view["live"]
    assert view["guide"] == load_guide(FILE).model_dump(mode="json")
    assert {g.name for g in store.published_guides()} == {"居民身份证换领补领", "新生儿出生一件事", "退休一件事"}
    again = store.seed_from_folder(seeded)                  # every start: nothing new
    assert again.added == [] and again.updated == []


def test_a_changed_yaml_file_updates_a_guide_nobody_edited_but_never_overrides_the_editor(seeded, people):
    path = seeded / "tuixiu.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["fee"] = "不收费（YAML已更新）"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert store.seed_from_folder(seeded).updated == ["退休一件事"]
    assert store.get_published("退休一件事")["version"] == 2

    store.save_draft(NAME, edited(lambda c: c.update(fee="免费（编辑）")), people["editor"])
    path = seeded / "shenfenzheng_huanling_buling.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["fee"] = "YAML里的新收费"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert store.seed_from_folder(seeded).updated == []      # an open draft: the editor's work wins
    assert store.get_published(NAME)["guide"]["fee"] != "YAML里的新收费"


def test_draft_errors_are_per_field_and_in_chinese(seeded, people):
    bad = edited(lambda c: c.update(code="", materials=[{"name": "照片", "form": "扫描件", "count": 0}]))
    del bad["code"]
    with pytest.raises(InvalidGuide) as caught:
        store.save_draft(NAME, bad, people["editor"])
    errors = {e["field"]: e["message"] for e in caught.value.detail["errors"]}
    assert errors["code"] == "必填"
    assert errors["materials.0.form"].startswith("只能是：原件")
    assert errors["materials.0.count"] == "不能小于1"
    assert errors["materials.0.issuer"] == "必填"
    with pytest.raises(InvalidGuide) as caught:              # a rule across fields names the list it is about
        store.save_draft(NAME, edited(lambda c: c["materials"][0].update(items=["不存在的事项"])), people["editor"])
    assert [e["field"] for e in caught.value.detail["errors"]] == ["materials"]
    with pytest.raises(InvalidGuide):                        # the URL names the guide; renaming is not an edit
        store.save_draft(NAME, edited(lambda c: c.update(name="别的名字")), people["editor"])


def test_editor_drafts_reviewer_publishes_and_callers_get_the_new_version(seeded, people):
    editor, supervisor = people["editor"], people["supervisor"]
    before = store.revision()
    draft = store.save_draft(NAME, edited(add_material), editor, note="增加照片")
    assert draft["status"] == "draft" and draft["version"] is None and draft["based_on"] == 1
    assert store.list_guides(NAME)[0]["state"] == "draft"
    with pytest.raises(InvalidState):                        # not submitted yet
        store.publish(NAME, supervisor)
    store.submit(NAME, editor)
    assert store.list_guides(NAME)[0]["state"] == "in_review"
    with pytest.raises(NotAllowed):                          # editors have no reviewer right
        store.publish(NAME, editor)
    with pytest.raises(NotAllowed):                          # agents cannot even edit
        store.save_draft(NAME, edited(add_material), people["agent"])
    assert store.revision() == before                        # nothing published yet: callers see no change
    published = store.publish(NAME, supervisor, note="审核通过")
    assert published["version"] == 2 and published["publisher"] == supervisor.username and published["live"]
    assert store.revision() != before
    live = {g.name: g for g in store.published_guides()}[NAME]
    assert "近期免冠照片" in [m.name for m in live.materials]
    assert store.list_guides(NAME)[0]["state"] == "published"
    with session_scope() as session:
        actions = [e.action for e in audit_entries(session, target_type="guide", target_id=NAME)]
    assert actions[:3] == ["guide.publish", "guide.submit", "guide.draft"]


def test_the_reviewer_must_be_a_second_person_unless_self_publishing_is_allowed(seeded, people, monkeypatch):
    supervisor = people["supervisor"]
    store.save_draft(NAME, edited(add_material), supervisor)
    store.submit(NAME, supervisor)
    with pytest.raises(NotAllowed):
        store.publish(NAME, supervisor)
    assert store.publish(NAME, people["admin"])["version"] == 2

    monkeypatch.setenv("GUIDE_SELF_PUBLISH", "1")            # a small team
    get_settings.cache_clear()
    store.save_draft(NAME, edited(lambda c: c.update(fee="免费")), people["editor"])
    store.submit(NAME, people["editor"])
    assert store.publish(NAME, people["editor"])["version"] == 3


def test_versions_diff_and_rollback(seeded, people):
    editor, supervisor = people["editor"], people["supervisor"]
    store.save_draft(NAME, edited(lambda c: (add_material(c), c.update(fee="免费"))), editor)
    store.submit(NAME, editor, note="照片和收费")
    store.publish(NAME, supervisor)
    changes = store.diff(NAME, "1", "2")["changes"]
    fields = {c["field"]: c for c in changes}
    assert set(fields) == {"fee", "materials[近期免冠照片]"}
    assert fields["materials[近期免冠照片]"]["change"] == "added" and fields["fee"]["new"] == "免费"
    assert fields["fee"]["label"] == "收费标准"

    rolled = store.rollback(NAME, 1, supervisor)
    assert rolled["version"] == 3 and rolled["source"] == "rollback" and rolled["based_on"] == 1
    assert store.get_published(NAME)["guide"] == store.get_version(NAME, 1)["guide"]
    assert store.diff(NAME, "1", "3")["changes"] == []
    history = store.versions_of(NAME)
    assert [v["version"] for v in history["versions"]] == [3, 2, 1] and history["live"] == 3
    assert history["versions"][0]["note"] == "回滚到第1版"
    with pytest.raises(NotAllowed):
        store.rollback(NAME, 2, editor)
    with pytest.raises(GuideNotFound):
        store.rollback(NAME, 9, supervisor)


def test_diff_matches_materials_by_name_not_by_position():
    a = {"materials": [{"name": "甲", "count": 1}, {"name": "乙", "count": 1}], "conditions": ["一", "二"]}
    b = {"materials": [{"name": "新", "count": 1}, {"name": "甲", "count": 1}, {"name": "乙", "count": 2}],
         "conditions": ["一", "二改"]}
    changes = {(c["field"], c["change"]) for c in diff_guides(a, b)}
    assert changes == {("materials[乙].count", "changed"), ("materials[新]", "added"),
                       ("conditions[2]", "changed")}


def test_scheduled_and_expiring_versions(seeded, people):
    editor, supervisor = people["editor"], people["supervisor"]
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    store.save_draft(NAME, edited(lambda c: c.update(fee="明天起免费")), editor)
    store.submit(NAME, editor)
    store.publish(NAME, supervisor, effective_from=tomorrow)
    assert store.get_published(NAME)["version"] == 1         # not yet in effect
    assert store.list_guides(NAME)[0]["state"] == "scheduled"
    later = datetime.now(timezone.utc) + timedelta(days=2)
    assert {g.name: g for g in store.published_guides(later)}[NAME].fee == "明天起免费"
    assert store.revision(later) != store.revision()          # the poller notices the moment it takes effect

    store.save_draft("退休一件事", store.get_published("退休一件事")["guide"], editor)
    store.submit("退休一件事", editor)
    soon = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    store.publish("退休一件事", supervisor, expires_at=soon)
    assert store.list_guides("退休")[0]["state"] == "expiring"
    after = datetime.now(timezone.utc) + timedelta(days=4)
    assert "退休一件事" not in {g.name for g in store.published_guides(after)}   # 失效: no longer answered
    store.save_draft(NAME, edited(lambda c: c.update(fee="x")), editor)
    store.submit(NAME, editor)
    with pytest.raises(InvalidInput):
        store.publish(NAME, supervisor, effective_from="2030-01-02", expires_at="2030-01-01")
    with pytest.raises(InvalidInput):
        store.publish(NAME, supervisor, effective_from="下周一")


def test_import_and_export_round_trip_with_per_row_errors(seeded, people):
    editor = people["editor"]
    exported = transfer.export_csv()
    assert exported.startswith("\ufeff事项名称,事项编码")
    assert transfer.import_csv(exported, editor)["unchanged"] == 3          # the same guides: nothing to do

    rows = list(csv.DictReader(io.StringIO(transfer.export_csv(NAME).lstrip("\ufeff"))))
    rows[0]["收费标准"] = "不收费（导入）"
    new = {"事项名称": "新事项测试", "事项类型": "行政确认", "办件类型": "即办件", "服务对象": "个人", "通办范围": "否",
           "设定依据": "《某条例》", "审批结果类型": "证照", "审批结果名称": "证明", "行使层级": "市级",
           "法定办理时限": "1个工作日", "承诺办理时限": "即办", "收费标准": "不收费", "牵头部门": "某局",
           "受理条件": "满足条件", "办事流程": "申请\n受理", "申请材料": "身份证|原件|1|申请人自备", "办理地点": "某大厅",
           "网上办理": "是：蒙速办", "事项编码": "X-1"}
    bad = dict(new, 事项名称="坏事项", 服务对象="外星人", 设定依据="", 申请材料="身份证|扫描件|一|申请人自备")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in (rows[0], new, bad):
        writer.writerow({k: row.get(k, "") for k in rows[0]})
    report = transfer.import_csv(buffer.getvalue(), editor)
    by_name = {r["name"]: r for r in report["rows"]}
    assert by_name[NAME]["status"] == "draft_saved" and store.get_draft(NAME)["guide"]["fee"] == "不收费（导入）"
    assert store.get_draft(NAME)["guide"]["situations"] == store.get_published(NAME)["guide"]["situations"]
    assert by_name["新事项测试"]["status"] == "draft_saved"
    assert store.get_draft("新事项测试")["guide"]["where"]["online"]["channels"] == ["蒙速办"]
    assert by_name["坏事项"]["status"] == "error" and by_name["坏事项"]["row"] == 4
    assert {e["field"] for e in by_name["坏事项"]["errors"]} == {"materials.0.count"}   # parse errors first
    assert (report["saved"], report["failed"]) == (2, 1)
    with pytest.raises(GuideNotFound):
        store.get_published("新事项测试")                         # an import never publishes
    bad["申请材料"] = "身份证|扫描件|1|申请人自备"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(bad))
    writer.writeheader()
    writer.writerow(bad)
    errors = {e["field"] for e in transfer.import_csv(buffer.getvalue(), editor)["rows"][0]["errors"]}
    assert {"audience", "materials.0.form", "legal_basis"} <= errors
    with pytest.raises(InvalidInput):
        transfer.import_csv("名称,编码\n甲,乙\n", editor)

    yaml_text = transfer.export_yaml("退休一件事")
    assert yaml.safe_load(yaml_text) == store.get_published("退休一件事")["guide"]
    report = transfer.import_yaml(yaml_text.replace("fee: ", "fee: 导入后", 1), editor)
    assert report["rows"][0]["status"] == "draft_saved"
    assert store.get_draft("退休一件事")["guide"]["fee"].startswith("导入后")


def test_unanswered_questions_are_masked_grouped_ranked_and_resolved(seeded, people):
    for text in ["护照怎么办理", "护照怎么办理呀", "护照怎么办", "我的手机13912345678停机了怎么办"]:
        assert unanswered.record(text, "not_found", sender="web-1")
    assert unanswered.record("社保卡", "did_you_mean", sender="web-2", suggestions=["社会保障卡居民服务一件事"])
    unanswered.accepted("web-2", "社会保障卡居民服务一件事")           # the caller took the suggestion
    assert not unanswered.record("/choose_guide", "fallback")
    groups = unanswered.groups()
    assert groups[0]["count"] == 3 and groups[0]["text"].startswith("护照怎么办")
    assert [g["count"] for g in groups] == [3, 1]
    assert "13912345678" not in str(groups) and "139****5678" in groups[1]["text"]

    result = unanswered.resolve(groups[0]["ids"], "example", people["editor"], guide=NAME, question="护照和身份证一起办吗")
    assert result["resolved"] == 3 and result["draft"]["status"] == "draft"
    assert "护照和身份证一起办吗" in store.get_draft(NAME)["guide"]["examples"]
    assert unanswered.groups()[0]["count"] == 1
    unanswered.resolve(groups[1]["ids"], "dismiss", people["editor"])
    assert unanswered.groups() == []
    assert unanswered.groups("used")[0]["resolution"]["guide"] == NAME
    with pytest.raises(GuideNotFound):
        unanswered.resolve(groups[1]["ids"], "dismiss", people["editor"])


def test_migration_matches_the_models(staff_db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    tables = {"guides", "guide_versions", "unanswered_questions"}
    with get_engine().connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() >= "0007"

    def touches(diff) -> bool:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item:
            table = part if isinstance(part, str) else \
                getattr(getattr(part, "table", None), "name", None) or getattr(part, "name", None)
            if table in tables:
                return True
        return False

    assert [d for d in diffs if touches(d)] == []
