"""One-table forms, submission, life cycle, verified status and the applications API (no Rasa needed)."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from actions.form_filling import CONFIRM, interpret
from core import applications as service
from core.application_forms import UnknownItems, form_for
from core.db import upgrade
from core.settings import get_settings
from knowledge.catalog import get_catalog

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ["新生儿出生一件事", "退休一件事", "企业开办一件事", "社会保障卡居民服务一件事", "个体工商户开办一件事"]
NEWBORN = {
    "applicant_name": "张三", "applicant_id_number": "150102199003071237", "applicant_phone": "13900001111",
    "other_parent_name": "李芳", "other_parent_id_number": "150203198804120024", "child_name": "张小宝",
    "child_gender": "男", "child_birth_date": "2025年3月1日", "birth_hospital": "鄂尔多斯市中心医院",
    "child_ethnicity": "汉族", "settle_with": "随父亲落户", "card_bank": "中国工商银行",
}
TODAY = date(2025, 3, 20)


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ADMIN_TOKEN", "unit-admin")
    for name in ("DATABASE_URL", "STATUS_SOURCE_URL", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    upgrade()
    yield tmp_path
    get_settings.cache_clear()


def guide(name):
    return get_catalog().get(name)


# -- the merged form, from the guides ------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUNDLES)
def test_each_bundle_has_a_merged_form(name):
    g = guide(name)
    form = form_for(g)
    assert form.items == tuple(i.name for i in g.items)
    names = [f.field for f in form.fields]
    assert len(names) == len(set(names)), "each field is asked once"
    types = {f.field: f.type for f in form.fields}
    assert types["applicant_name"] == "name" and types["applicant_id_number"] == "id_number"
    assert types["applicant_phone"] == "phone"
    for f in form.fields:
        assert f.needed_by and set(f.needed_by) <= set(form.items)
        assert f.rule


def test_only_the_chosen_items_fields_are_asked():
    g = guide("新生儿出生一件事")
    full = {f.field for f in form_for(g).fields}
    only_insurance = form_for(g, ["城乡居民医疗保险参保登记"])
    fields = {f.field for f in only_insurance.fields}
    assert fields < full
    assert "card_bank" not in fields and "settle_with" not in fields and "birth_hospital" not in fields
    assert {"applicant_name", "child_name", "child_birth_date"} <= fields
    assert only_insurance.items == ("城乡居民医疗保险参保登记",)
    with pytest.raises(UnknownItems):
        form_for(g, ["结婚登记"])


def test_form_definitions_live_in_the_guides():
    source = (ROOT / "knowledge" / "guides" / "tuixiu.yaml").read_text(encoding="utf-8")
    fields = [f["field"] for f in yaml.safe_load(source)["form"]]
    assert [f.field for f in form_for(guide("退休一件事")).fields] == fields


def test_form_validation_reports_every_bad_field():
    form = form_for(guide("新生儿出生一件事"))
    clean, errors = form.validate({**NEWBORN, "applicant_phone": "123", "child_birth_date": "2099年1月1日",
                                   "unknown_field": "x"}, today=TODAY)
    assert set(errors) == {"applicant_phone", "child_birth_date", "unknown_field"}
    clean, errors = form.validate(NEWBORN, today=TODAY)
    assert errors == {} and clean["child_birth_date"] == "2025-03-01" and clean["settle_with"] == "随父亲落户"


# -- receipt numbers --------------------------------------------------------------------------------------------------
def test_receipt_numbers_match_the_nlu_regex_and_are_unguessable():
    nlu = yaml.safe_load((ROOT / "nlu" / "data" / "basics.yml").read_text(encoding="utf-8"))
    patterns = next(e["examples"] for e in nlu["nlu"] if e.get("regex") == "application_number")
    # one line per number format: receipts (NM...) and tickets (GD..., tests/unit/test_tickets.py)
    regex = re.compile("|".join(line.strip().lstrip("- ").strip() for line in patterns.strip().splitlines()))
    numbers = {service.new_number(TODAY) for _ in range(2000)}
    assert len(numbers) == 2000
    for number in list(numbers)[:200]:
        assert regex.fullmatch(number), number
        assert number.startswith("NM20250320")
        assert not set(number[10:]) & set("01IO")


# -- submission ------------------------------------------------------------------------------------------------------
def test_submit_is_idempotent(app_db):
    first = service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="web", sender="s1")
    again = service.create_application(guide="新生儿出生一件事", items=None, data=dict(NEWBORN), channel="web", sender="s1")
    assert first.created and not again.created
    assert again.view["number"] == first.view["number"]
    other = service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="web", sender="s2")
    assert other.created and other.view["number"] != first.view["number"]
    keyed = service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="api", sender="x",
                                       idempotency_key="k-1")
    assert service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="api", sender="x",
                                      idempotency_key="k-1").view["number"] == keyed.view["number"]
    app = service.get_application(first.view["number"])
    assert app.channel == "web" and app.items == [i.name for i in guide("新生儿出生一件事").items]
    assert app.data["child_birth_date"] == "2025-03-01"
    assert "token=" in first.print_url and first.next_steps["windows"] and first.next_steps["deferral_note"]


def test_submit_rejects_invalid_data_and_unknown_guides(app_db):
    with pytest.raises(service.InvalidApplication) as exc:
        service.create_application(guide="新生儿出生一件事", items=["户口登记"],
                                   data={**NEWBORN, "applicant_id_number": "150102199003071234"}, channel="web", sender="s")
    assert "applicant_id_number" in exc.value.errors
    with pytest.raises(service.UnknownGuide):
        service.create_application(guide="不存在的事", items=None, data={}, channel="web", sender="s")


# -- life cycle ---------------------------------------------------------------------------------------------------------
def test_life_cycle_per_item_and_overall(app_db):
    number = service.create_application(guide="新生儿出生一件事", items=["户口登记", "城乡居民医疗保险参保登记"],
                                        data=NEWBORN, channel="web", sender="s").view["number"]
    view = service.advance(number, "预审中")
    assert view["overall"] == "预审中" and {i["status"] for i in view["items"]} == {"预审中"}
    with pytest.raises(service.TransitionError):
        service.advance(number, "需补正", item="户口登记")           # needs what to supply
    view = service.advance(number, "需补正", item="户口登记", note="请补交落户方居民户口簿原件", due=date(2025, 4, 1))
    assert view["overall"] == "需补正"
    item = next(i for i in view["items"] if i["name"] == "户口登记")
    assert item["note"] == "请补交落户方居民户口簿原件" and item["due"] == "2025-04-01"
    with pytest.raises(service.TransitionError):
        service.advance(number, "已办结", item="户口登记")
    service.advance(number, "审批中", item="户口登记")
    assert service.advance(number, "审批中", item="城乡居民医疗保险参保登记")["overall"] == "审批中"
    service.advance(number, "已办结")
    view = service.advance(number, "已寄递", item="户口登记")
    assert view["overall"] == "已办结"
    assert service.advance(number, "已出件", item="城乡居民医疗保险参保登记")["overall"] == "已出件"
    with pytest.raises(service.NotFound):
        service.advance(number, "预审中", item="结婚登记")
    with pytest.raises(service.NotFound):
        service.advance("NM20250101AAAAAAAA", "预审中")


def test_overall_status_rules():
    assert service.overall_status(["已办结", "需补正", "审批中"]) == "需补正"
    assert service.overall_status(["已办结", "预审中"]) == "预审中"
    assert service.overall_status(["已寄递", "已寄递"]) == "已寄递"
    assert service.overall_status(["已寄递", "已出件"]) == "已出件"


def test_cli_advance_and_show(app_db, capsys):
    number = service.create_application(guide="退休一件事", items=["住房公积金退休提取"], data={
        "applicant_name": "王建国", "applicant_id_number": "150102196511230018", "applicant_phone": "13812345678",
        "pension_account": "6217000000000000", "housing_fund_account": ""}, channel="web", sender="s").view["number"]
    assert service.main(["advance", number, "--item", "住房公积金退休提取", "--status", "需补正",
                         "--note", "请补交本人银行卡", "--due", "2025-04-01"]) == 0
    assert "需补正" in capsys.readouterr().out
    assert service.main(["show", number]) == 0 and "请补交本人银行卡" in capsys.readouterr().out
    assert service.main(["advance", number, "--status", "已寄递"]) == 1
    assert "不能改为" in capsys.readouterr().err


# -- verified status -------------------------------------------------------------------------------------------------------
def test_status_needs_the_right_factor_and_locks_out(app_db):
    number = service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="web",
                                        sender="s").view["number"]
    policy = service.LockPolicy(max_failures=3, lock_minutes=5, number_max_failures=100)
    assert service.check_status(number, "1111", requester="a", policy=policy).result == "ok"      # phone
    assert service.check_status(number, "071237", requester="a", policy=policy).result == "ok"    # own ID
    assert service.check_status(number, "120024", requester="a", policy=policy).result == "ok"    # other parent ID
    unknown = service.check_status("NM20250101AAAAAAAA", "1111", requester="b", policy=policy)
    wrong = service.check_status(number, "2222", requester="b", policy=policy)
    assert unknown == wrong == service.StatusOutcome("denied")
    service.check_status("garbage", "x", requester="b", policy=policy)
    assert service.check_status(number, "1111", requester="b", policy=policy).result == "ok"  # 1 failure on it
    service.check_status(number, "x", requester="b", policy=policy)
    service.check_status(number, "3333", requester="b", policy=policy)
    service.check_status(number, "4444", requester="b", policy=policy)
    locked = service.check_status(number, "1111", requester="b", policy=policy)  # 3 failures on this number
    assert locked.result == "locked" and locked.retry_after > 0
    assert service.check_status(number, "1111", requester="c", policy=policy).result == "ok"


def test_status_locks_a_number_guessed_from_many_senders(app_db):
    number = service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="web",
                                        sender="s").view["number"]
    policy = service.LockPolicy(max_failures=100, number_max_failures=4)
    for i in range(4):
        assert service.check_status(number, f"{i:04d}", requester=f"r{i}", policy=policy).result == "denied"
    assert service.check_status(number, "1111", requester="new", policy=policy).result == "locked"


# -- understanding answers (actions/form_filling.py) ----------------------------------------------------------------------
@pytest.fixture
def newborn_form():
    return form_for(guide("新生儿出生一件事"))


def test_several_fields_in_one_sentence(newborn_form):
    out = interpret("我叫张三，身份证150102199003071237，电话13900001111", newborn_form, {}, "applicant_name", today=TODAY)
    assert out.updates == {"applicant_name": "张三", "applicant_id_number": "150102199003071237",
                           "applicant_phone": "13900001111"}
    out = interpret("我爱人叫李芳，身份证150203198804120024", newborn_form, dict(NEWBORN, other_parent_name=None,
                    other_parent_id_number=None), "other_parent_name", today=TODAY)
    assert out.updates == {"other_parent_name": "李芳", "other_parent_id_number": "150203198804120024"}


def test_correction_of_an_earlier_answer(newborn_form):
    data = {"applicant_name": "张三", "applicant_id_number": "150102199003071237", "applicant_phone": "13900001111"}
    out = interpret("刚才电话说错了，是13900002222", newborn_form, data, "child_name", today=TODAY)
    assert out.updates == {"applicant_phone": "13900002222"} and out.corrected == ["applicant_phone"]
    assert out.errors == {} and not out.interrupt
    filled = {k: "x" for k in NEWBORN}
    assert interpret("孩子名字改成王小明", newborn_form, filled, CONFIRM, today=TODAY).updates == {"child_name": "王小明"}
    assert interpret("银行改成农行", newborn_form, filled, CONFIRM, today=TODAY).updates == {"card_bank": "中国农业银行"}


def test_invalid_answers_say_why(newborn_form):
    out = interpret("150102199003071234", newborn_form, {}, "applicant_id_number", today=TODAY)
    assert "校验码" in out.errors["applicant_id_number"] and not out.updates
    out = interpret("150102199003071237，我今年25岁", newborn_form, {}, "applicant_id_number", today=TODAY)
    assert "不一致" in out.errors["applicant_id_number"]


def test_stated_birth_date_must_agree_with_the_id_number(newborn_form):
    out = interpret("150102199003071237，我1990年3月8日出生", newborn_form, {}, "applicant_id_number", today=TODAY)
    assert "不一致" in out.errors["applicant_id_number"] and not out.updates
    out = interpret("150102199003071237，我1990年3月7日出生", newborn_form, {}, "applicant_id_number", today=TODAY)
    assert out.updates == {"applicant_id_number": "150102199003071237"}


def test_words_that_only_look_like_values_are_not_taken(newborn_form):
    data = {"applicant_name": "张三", "child_birth_date": "2025-01-01"}
    out = interpret("今天天气怎么样", newborn_form, data, "applicant_id_number", intent="out_of_scope", confidence=0.9)
    assert out.interrupt and not out.updates
    out = interpret("我的生日是1990年3月8日", newborn_form, data, "applicant_id_number", today=TODAY)
    assert "child_birth_date" not in out.updates
    assert "申请表还有" in interpret("确认提交", newborn_form, {}, "applicant_name", intent="confirm_application",
                                  confidence=0.95).errors["applicant_name"]


def test_questions_and_commands_are_not_answers(newborn_form):
    assert interpret("户口登记需要带什么材料？", newborn_form, {}, "child_name", intent="ask_guide", confidence=0.9).interrupt
    assert interpret("户口登记要多久", newborn_form, {}, "child_birth_date").interrupt
    assert interpret("先不填了", newborn_form, {}, "child_name", intent="pause_application", confidence=0.9).interrupt
    assert not interpret("张小宝", newborn_form, {}, "child_name", intent="ask_guide", confidence=0.5).interrupt
    repeat = interpret("继续", newborn_form, {}, "child_name", intent="resume_application", confidence=0.9)
    assert repeat.repeat and not repeat.errors and not repeat.interrupt


def test_summary_confirmation(newborn_form):
    assert interpret("确认提交", newborn_form, NEWBORN, CONFIRM, intent="confirm_application", confidence=1).confirmed
    assert interpret("/confirm_application", newborn_form, NEWBORN, CONFIRM, intent="confirm_application",
                     confidence=1).confirmed
    assert interpret("不对，要修改", newborn_form, NEWBORN, CONFIRM, intent="deny", confidence=0.9).edit_requested
    assert interpret("嗯嗯", newborn_form, NEWBORN, CONFIRM).confirmed


def test_optional_fields_can_be_skipped():
    form = form_for(guide("退休一件事"))
    out = interpret("跳过", form, {}, "housing_fund_account")
    assert out.updates == {"housing_fund_account": ""}
    assert "applicant_name" in interpret("跳过", form, {}, "applicant_name").errors


# -- the applications API, in process -----------------------------------------------------------------------------------------
@pytest.fixture
def client(app_db):
    from connectors.gateway.app import create_app

    with TestClient(create_app()) as c:
        yield c


def test_api_form_definition(client):
    body = client.get("/api/forms/新生儿出生一件事", params={"items": ["户口登记"]}).json()
    assert body["items"] == ["户口登记"]
    assert {"field", "label", "type", "options", "needed_by", "required", "rule"} <= set(body["fields"][0])
    assert client.get("/api/forms/不存在").status_code == 404
    assert client.get("/api/forms/新生儿出生一件事", params={"items": ["结婚登记"]}).status_code == 422


def _owned() -> dict[str, str]:
    from core import senders

    sender, token = senders.new_sender()
    return {"sender": sender, "token": token}


def test_api_submit_twice_gives_one_application(client):
    payload = {"guide": "新生儿出生一件事", "data": NEWBORN, **_owned()}
    first = client.post("/api/applications", json=payload)
    assert first.status_code == 201, first.text
    second = client.post("/api/applications", json=payload)
    assert second.status_code == 200 and second.json()["number"] == first.json()["number"]
    assert second.json()["created"] is False
    keyed = [client.post("/api/applications", json={**payload, **_owned()}, headers={"Idempotency-Key": "abc"})
             for _ in range(2)]
    assert [r.status_code for r in keyed] == [201, 201]      # a new conversation each time: two applications
    other = _owned()
    keyed = [client.post("/api/applications", json={**payload, **other}, headers={"Idempotency-Key": "abc"})
             for _ in range(2)]
    assert [r.status_code for r in keyed] == [201, 200]


def test_api_a_conversation_named_without_its_token_is_refused_and_nothing_is_replayed(client):
    mine = _owned()
    first = client.post("/api/applications", json={"guide": "新生儿出生一件事", "data": NEWBORN, **mine},
                        headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201
    for forged in ({"sender": mine["sender"]}, {"sender": mine["sender"], "token": _owned()["token"]}):
        replay = client.post("/api/applications", json={"guide": "新生儿出生一件事", "data": NEWBORN, **forged},
                             headers={"Idempotency-Key": "k1"})
        assert replay.status_code == 403 and replay.json()["detail"]["code"] == "sender_forbidden"
        assert first.json()["number"] not in replay.text and "print" not in replay.text
    anonymous = client.post("/api/applications", json={"guide": "新生儿出生一件事", "data": NEWBORN},
                            headers={"Idempotency-Key": "k1"})
    assert anonymous.status_code == 201 and anonymous.json()["number"] != first.json()["number"]


def test_api_submit_validation_errors(client):
    bad = client.post("/api/applications", json={"guide": "新生儿出生一件事",
                                                  "data": {**NEWBORN, "applicant_phone": "12345"}})
    assert bad.status_code == 422
    detail = bad.json()["detail"]
    assert detail["code"] == "invalid_fields"
    assert detail["fields"] == [{"field": "applicant_phone", "label": "申请人联系电话",
                                 "message": "手机号码应为11位，您提供的是5位，请核对后重新告诉我。"}]
    assert client.post("/api/applications", json={"guide": "没有这个", "data": {}}).status_code == 404
    assert client.post("/api/applications", json={"guide": "新生儿出生一件事", "items": ["x"], "data": {}}).status_code == 422
    assert client.post("/api/applications", json={"guide": "新生儿出生一件事", "data": {"applicant_name": {"a": 1}}}
                       ).status_code == 422
    assert client.post("/api/applications", content=b"not json").status_code in (400, 422)


def test_api_status_and_printable_form(client):
    sub = client.post("/api/applications", json={"guide": "新生儿出生一件事", "data": NEWBORN}).json()
    number = sub["number"]
    assert client.get(f"/api/applications/{number}", params={"verify": "9999"}).status_code == 404
    assert client.get("/api/applications/NM20250101AAAAAAAA", params={"verify": "1111"}).json() == \
        client.get(f"/api/applications/{number}", params={"verify": "9999"}).json()
    ok = client.get(f"/api/applications/{number}", params={"verify": "1111"})
    assert ok.status_code == 200 and ok.json()["overall"] == "已提交" and len(ok.json()["items"]) == 5
    assert client.get(f"/api/applications/{number}").status_code == 422
    page = client.get(sub["print_url"])
    assert page.status_code == 200 and "张小宝" in page.text and number in page.text
    assert "2025年3月1日" in page.text and page.headers["cache-control"] == "no-store"
    assert client.get(f"/api/applications/{number}/form", params={"token": "wrong"}).status_code == 404
    assert client.get(f"/api/applications/{number}/form", params={"verify": "1111"}).status_code == 200


def test_api_admin_needs_the_token(client):
    number = client.post("/api/applications", json={"guide": "新生儿出生一件事", "data": NEWBORN}).json()["number"]
    url = f"/api/admin/applications/{number}/advance"
    assert client.post(url, json={"status": "预审中"}).status_code == 401
    assert client.post(url, json={"status": "预审中"}, headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.post(url, json={"status": "预审中"}, headers={"Authorization": "Bearer unit-admin"})
    assert ok.status_code == 200 and ok.json()["overall"] == "预审中"
    conflict = client.post(url, json={"status": "已寄递"}, headers={"X-Admin-Token": "unit-admin"})
    assert conflict.status_code == 409
    assert client.post(url, json={"status": "乱写"}, headers={"X-Admin-Token": "unit-admin"}).status_code == 422
    assert client.get(f"/api/admin/applications/{number}", headers={"X-Admin-Token": "unit-admin"}).status_code == 200


def test_a_guidance_button_clicked_mid_form_is_not_taken_as_the_answer():
    from actions.form_filling import interpret
    from core.application_forms import form_for
    from knowledge.catalog import get_catalog

    form = form_for(get_catalog().get("新生儿出生一件事"))
    out = interpret('/choose_option{"option": "marriage=married"}', form, {}, "applicant_name",
                    intent="choose_option", confidence=1.0)
    assert out.interrupt and not out.updates and not out.errors


# -- fields that depend on an earlier answer (`when` in a guide's form) ---------------------------------------------------
SSCARD = {
    "applicant_name": "赵敏", "applicant_id_number": "150203198804120024", "applicant_phone": "13700001234",
    "service_type": "首次申领", "card_bank": "中国建设银行", "delivery_method": "网点现场领取",
    "transit_function": "开通", "handler_type": "本人",
}


@pytest.fixture
def sscard_form():
    return form_for(guide("社会保障卡居民服务一件事"))


def test_a_dependent_field_is_skipped_unless_its_condition_is_met(sscard_form):
    spec = sscard_form.get("loss_type")
    assert spec.when == (("service_type", ("遗失补领", "挂失")),)
    assert sscard_form.as_dict()["fields"][[f.field for f in sscard_form.fields].index("loss_type")]["when"] == {
        "service_type": ["遗失补领", "挂失"]}
    first = dict(SSCARD)
    assert not sscard_form.missing(first)
    asked = [f.field for f in sscard_form.active(first)]
    assert "loss_type" not in asked and "delivery_address" not in asked and "agent_name" not in asked
    # until the choice is answered the dependent field is not asked either
    partial = {k: first[k] for k in ("applicant_name", "applicant_id_number", "applicant_phone")}
    assert sscard_form.missing(partial)[0].field == "service_type"
    # the condition met: asked right after the choice, and required
    lost = dict(SSCARD, service_type="遗失补领", delivery_method="免费邮寄到家", handler_type="委托他人代办")
    assert [f.field for f in sscard_form.missing(lost)] == ["loss_type", "delivery_address", "agent_name",
                                                             "agent_id_number"]
    assert all(f.required for f in sscard_form.missing(lost))
    # a service-only caller is not asked about banks, delivery or loss at all
    service_only = {k: v for k, v in SSCARD.items() if k not in ("card_bank", "delivery_method")}
    service_only["service_type"] = "开通就医购药"
    assert sscard_form.missing(service_only) == []


def test_validation_requires_only_what_applies(sscard_form):
    clean, errors = sscard_form.validate(dict(SSCARD), today=TODAY)
    assert errors == {} and "loss_type" not in clean and "delivery_address" not in clean and "agent_name" not in clean
    clean, errors = sscard_form.validate(dict(SSCARD, service_type="挂失", handler_type="委托他人代办"), today=TODAY)
    assert set(errors) == {"loss_type", "agent_name", "agent_id_number"}
    assert "card_bank" not in clean and "delivery_method" not in clean   # given, but a 挂失 needs neither
    # an answer for a field that does not apply is dropped, not stored and not an error
    clean, errors = sscard_form.validate(dict(SSCARD, loss_type="正式挂失", delivery_address="包头市青山区幸福路8号"),
                                         today=TODAY)
    assert errors == {} and "loss_type" not in clean and "delivery_address" not in clean
    # choices are compared after canonicalisation ("邮寄" = 免费邮寄到家)
    clean, errors = sscard_form.validate(dict(SSCARD, delivery_method="邮寄"), today=TODAY)
    assert errors == {"delivery_address": "“邮寄地址”为必填项。"}


def test_an_id_number_said_again_is_not_taken_as_someone_elses(sscard_form):
    """Callers often say their ID number again when the next question comes (or a turn is sent twice): it is
    the applicant's, already recorded, and never becomes the agent's (two people never share one). The
    question asked gets its own answer asked for again."""
    data = {k: SSCARD[k] for k in ("applicant_name", "applicant_id_number")}
    out = interpret(SSCARD["applicant_id_number"], sscard_form, data, "applicant_phone", today=TODAY)
    assert out.updates == {} and "applicant_phone" in out.errors
    # named as the agent's, or a different number, it is still taken
    other = "150102199003071237"
    out = interpret(other, sscard_form, data, "applicant_phone", today=TODAY)
    assert out.updates == {"agent_id_number": other}
    out = interpret(f"代办人身份证号{SSCARD['applicant_id_number']}", sscard_form, data, "applicant_phone", today=TODAY)
    assert out.updates == {"agent_id_number": SSCARD["applicant_id_number"]}


def test_the_conversation_only_fills_fields_that_apply(sscard_form):
    data = dict(SSCARD)
    out = interpret("地址是包头市青山区幸福路8号3栋2单元501室", sscard_form, data, CONFIRM, today=TODAY)
    assert "delivery_address" not in out.updates
    data = {k: v for k, v in SSCARD.items() if k not in ("delivery_method", "transit_function", "handler_type")}
    out = interpret("邮寄", sscard_form, data, "delivery_method", today=TODAY)
    assert out.updates == {"delivery_method": "免费邮寄到家"}
    data.update(out.updates)
    assert sscard_form.missing(data)[0].field == "delivery_address"
    out = interpret("包头市青山区幸福路8号3栋2单元501室", sscard_form, data, "delivery_address", today=TODAY)
    assert out.updates == {"delivery_address": "包头市青山区幸福路8号3栋2单元501室"}


def test_correcting_the_choice_drops_answers_that_no_longer_apply(sscard_form):
    data = dict(SSCARD, service_type="遗失补领", loss_type="正式挂失", delivery_method="免费邮寄到家",
                delivery_address="包头市青山区幸福路8号3栋2单元501室", handler_type="委托他人代办",
                agent_name="李芳", agent_id_number="150102199003071237")
    assert sscard_form.prune(data) == (data, [])
    out = interpret("领卡方式改成网点现场领取", sscard_form, data, CONFIRM, today=TODAY)
    assert out.updates == {"delivery_method": "网点现场领取"}
    kept, dropped = sscard_form.prune({**data, **out.updates})
    assert dropped == ["delivery_address"] and "delivery_address" not in kept and kept["loss_type"] == "正式挂失"
    # a choice that rules out a controlling field rules out its dependants too
    kept, dropped = sscard_form.prune({**data, "service_type": "开通就医购药", "handler_type": "本人"})
    assert dropped == ["loss_type", "card_bank", "delivery_method", "delivery_address", "agent_name", "agent_id_number"]
    # a value given before its choice was answered is kept until the choice rules it out
    early = {"delivery_address": "包头市青山区幸福路8号3栋2单元501室"}
    assert sscard_form.prune(early) == (early, [])


def test_the_form_action_drops_and_reports_answers_that_no_longer_apply(sscard_form):
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.applications import ValidateApplicationForm, summary_rows

    data = dict(SSCARD, delivery_method="免费邮寄到家", delivery_address="包头市青山区幸福路8号3栋2单元501室")
    assert "delivery_address" in {r["field"] for r in summary_rows(sscard_form, data)}
    slots = {"app_guide": "社会保障卡居民服务一件事", "app_items": [], "app_data": data, "app_field": CONFIRM,
             "app_failures": {}, "app_state": "filling"}
    message = {"text": "领卡方式改成网点现场领取", "intent": {"name": "inform", "confidence": 0.9}}
    tracker = Tracker("unit-when", slots, message, [{"event": "user", "text": message["text"]}], False, None,
                      {"name": "application_form"}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = ValidateApplicationForm().run(dispatcher, tracker, {})
    stored = next(e["value"] for e in events if e.get("name") == "app_data")
    assert stored["delivery_method"] == "网点现场领取" and "delivery_address" not in stored
    kinds = [m["custom"]["kind"] for m in dispatcher.messages]
    assert "form_correction" in kinds and "form_dropped" in kinds, kinds
    assert "delivery_address" not in {r["field"] for r in summary_rows(sscard_form, stored)}


def test_api_honours_dependent_fields(client):
    payload = {"guide": "社会保障卡居民服务一件事", "data": dict(SSCARD, delivery_method="免费邮寄到家"), **_owned()}
    bad = client.post("/api/applications", json=payload)
    assert bad.status_code == 422 and [f["field"] for f in bad.json()["detail"]["fields"]] == ["delivery_address"]
    payload["data"] = dict(SSCARD, loss_type="正式挂失")
    ok = client.post("/api/applications", json=payload)
    assert ok.status_code == 201, ok.text
    assert "loss_type" not in service.get_application(ok.json()["number"]).data
    body = client.get("/api/forms/社会保障卡居民服务一件事").json()
    assert {f["field"]: f["when"] for f in body["fields"]}["delivery_address"] == {"delivery_method": ["免费邮寄到家"]}
