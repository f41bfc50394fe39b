"""The guide editor's API (/api/guides, /api/unanswered) on the real gateway app with staff accounts:
anonymous 401, agents 403, editors draft and submit but get 403 publishing, supervisors publish; versions,
diff, rollback, preview, hit-test, import/export and the unanswered queue as a console would use them."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from connectors.gateway import auth
from core.guides import store, unanswered
from tests.staff_fixtures import make_staff, staff_client, staff_db  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
NAME = "居民身份证换领补领"
URL = "/api/guides/" + quote(NAME)


@pytest.fixture
def api(staff_client, make_staff, tmp_path):
    folder = tmp_path / "guides"
    folder.mkdir()
    for name in ("shenfenzheng_huanling_buling.yaml", "tuixiu.yaml"):
        shutil.copy(ROOT / "knowledge" / "guides" / name, folder / name)
    store.seed_from_folder(folder)
    return staff_client, {role: make_staff(role).headers for role in ("editor", "supervisor", "admin", "agent")}


def test_staff_only(api):
    client, users = api
    assert client.get("/api/guides").status_code == 401
    assert client.get("/api/unanswered").status_code == 401
    assert client.get("/api/guides", headers=users["agent"]).json()["detail"]["code"] == "forbidden"
    listed = client.get("/api/guides", headers=users["editor"]).json()
    assert {g["name"]: g["state"] for g in listed["guides"]} == {NAME: "published", "退休一件事": "published"}
    assert listed["can_publish"] is False
    assert client.get("/api/guides", headers=users["supervisor"]).json()["can_publish"] is True
    assert not auth.is_staff_path("/api/knowledge/search") and not auth.is_staff_path("/notice")   # callers' stay public


def test_edit_review_publish_versions_diff_rollback(api):
    client, users = api
    got = client.get(URL, headers=users["editor"]).json()
    assert got["version"] == 1 and got["name"] == NAME and got["meta"]["status"] == "published"
    body = copy.deepcopy(got)
    body["materials"].append({"name": "近期免冠照片", "form": "原件", "count": 2, "issuer": "申请人自备"})
    saved = client.put(URL + "/draft", json=body, headers=users["editor"], params={"note": "加照片"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["meta"]["status"] == "draft" and saved.json()["version"] is None

    bad = copy.deepcopy(body)
    bad["materials"][-1]["form"] = "扫描件"
    del bad["fee"]
    refused = client.put(URL + "/draft", json=bad, headers=users["editor"])
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail["code"] == "guide_invalid"
    errors = {e["field"]: e["message"] for e in detail["errors"]}
    assert errors["fee"] == "必填" and errors[f"materials.{len(bad['materials']) - 1}.form"] == \
        "只能是：原件、复印件、原件及复印件、电子证照或原件、电子版"
    # blank names and windows, a wall of text, the same material twice: said in Chinese, field by field
    blank = copy.deepcopy(body)
    blank["materials"][0]["name"] = "   "
    blank["code"] = ""
    blank["where"]["windows"][0] = ""
    blank["deferral_note"] = "字" * 5000
    blank["disclaimer"] = "以本指南为准"
    refused = client.put(URL + "/draft", json=blank, headers=users["editor"])
    assert refused.status_code == 422
    errors = {e["field"]: e["message"] for e in refused.json()["detail"]["errors"]}
    assert errors == {"materials.0.name": "不能为空", "code": "不能为空", "where.windows.0": "不能为空",
                      "deferral_note": "不能超过2000个字", "disclaimer": "须注明以内蒙古政务服务网公布的办事指南为准"}
    twice = copy.deepcopy(body)
    twice["materials"].append(copy.deepcopy(twice["materials"][0]))
    errors = client.put(URL + "/draft", json=twice, headers=users["editor"]).json()["detail"]["errors"]
    assert errors == [{"field": "materials", "message": f"材料“{twice['materials'][0]['name']}”重复列出"}]

    assert client.post(URL + "/submit", json={"note": "补充照片要求"}, headers=users["editor"]).status_code == 200
    denied = client.post(URL + "/publish", headers=users["editor"])
    assert denied.status_code == 403 and denied.json()["detail"]["code"] == "guide_not_allowed"
    published = client.post(URL + "/publish", json={"note": "同意"}, headers=users["supervisor"])
    assert published.status_code == 200 and published.json()["version"] == 2
    assert client.post(URL + "/publish", headers=users["supervisor"]).status_code == 404   # nothing left to publish

    assert "近期免冠照片" in [m["name"] for m in client.get(URL, headers=users["editor"]).json()["materials"]]
    versions = client.get(URL + "/versions", headers=users["editor"]).json()
    assert [(v["version"], v["live"]) for v in versions["versions"]] == [(2, True), (1, False)]
    assert versions["versions"][0]["note"] == "同意" and versions["versions"][0]["author"].startswith("editor")
    diff = client.get(URL + "/diff", params={"from": "1", "to": "2"}, headers=users["editor"]).json()
    assert [(c["field"], c["change"]) for c in diff["changes"]] == [("materials[近期免冠照片]", "added")]
    assert client.get(URL + "/diff", params={"from": "x", "to": "2"}, headers=users["editor"]).status_code == 422

    assert client.post(URL + "/rollback", json={"version": 1}, headers=users["editor"]).status_code == 403
    rolled = client.post(URL + "/rollback", json={"version": 1}, headers=users["supervisor"])
    assert rolled.status_code == 200 and rolled.json()["version"] == 3
    assert "近期免冠照片" not in [m["name"] for m in client.get(URL, headers=users["editor"]).json()["materials"]]
    assert client.get("/api/guides/" + quote("没有这个"), headers=users["editor"]).status_code == 404


def test_preview_shows_the_notice_and_its_spoken_form(api):
    client, users = api
    guide = client.get(URL, headers=users["editor"]).json()      # sent back as GET gave it (version, meta)
    guide["fee"] = "免费"
    shown = client.post("/api/guides/preview", json={"guide": guide}, headers=users["editor"]).json()
    assert shown["valid"] and "收费标准：免费" in shown["text"] and shown["speech"].startswith("办理" + NAME)
    assert "一次性告知单" in shown["html"]
    guide["materials"] = []
    shown = client.post("/api/guides/preview", json={"guide": guide}, headers=users["editor"]).json()
    assert not shown["valid"] and shown["errors"][0] == {"field": "materials", "message": "至少需要1项"}
    page = client.get(URL + "/notice", headers=users["editor"])
    assert page.status_code == 200 and "一次性告知单" in page.text


def test_hit_test_compares_draft_and_published(api):
    client, users = api
    guide = client.get(URL, headers=users["editor"]).json()
    guide["aliases"] = guide["aliases"] + ["火星居民证"]
    client.put(URL + "/draft", json=guide, headers=users["editor"])
    result = client.post("/api/guides/hit-test", json={"question": "火星居民证丢了怎么补", "draft": True},
                         headers=users["editor"])
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["drafts"] == [NAME]
    assert body["draft"]["results"][0]["name"] == NAME
    assert body["draft"]["results"][0]["score"] > body["published"]["results"][0]["score"] or \
        body["published"]["results"][0]["name"] != NAME
    assert client.post("/api/guides/hit-test", json={"question": ""}, headers=users["editor"]).status_code == 422


def test_import_export_and_the_unanswered_queue(api):
    client, users = api
    exported = client.get("/api/guides/export", params={"format": "csv"}, headers=users["editor"])
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    report = client.post("/api/guides/import", params={"format": "csv"}, content=exported.text.encode("utf-8"),
                         headers={**users["editor"], "Content-Type": "text/csv"}).json()
    assert report["unchanged"] == 2 and report["failed"] == 0
    bad = client.post("/api/guides/import", params={"format": "yaml"}, content="name: [".encode(),
                      headers={**users["editor"], "Content-Type": "application/yaml"})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "file"

    for text in ["护照怎么办", "护照怎么办理", "签证怎么弄"]:
        unanswered.record(text, "not_found", sender="web-x")
    queue = client.get("/api/unanswered", headers=users["editor"]).json()
    assert queue["questions"] == 3 and queue["groups"][0]["count"] == 2
    done = client.post("/api/unanswered/resolve", headers=users["editor"],
                       json={"ids": queue["groups"][0]["ids"], "action": "example", "guide": NAME})
    assert done.status_code == 200 and done.json()["draft"]["status"] == "draft"
    draft = client.get(URL + "/draft", headers=users["editor"]).json()
    assert queue["groups"][0]["text"] in draft["examples"]
    assert client.post("/api/unanswered/resolve", headers=users["editor"],
                       json={"ids": queue["groups"][0]["ids"], "action": "dismiss"}).status_code == 404
    assert client.get("/api/unanswered", headers=users["agent"]).status_code == 403
