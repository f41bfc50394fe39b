"""A caller files a complaint (工单) in the web widget, in headless Chromium, and a second caller about
the same problem is linked to it.

The caller types the problem, answers the questions the widget shows (by the field each question asks,
read from the widget's saved transcript), checks the masked summary table, clicks 确认提交, and sees the
ticket number card with the category, the department and the reply deadline.
"""
from __future__ import annotations

import re

import pytest

from tests.browser.test_widget import open_widget
from tests.browser.test_widget_form import click_button, last_bot, type_answer, wait_turn

try:
    from selenium.webdriver.common.by import By
except ImportError:  # the `browser` fixture reports the missing package
    pass

pytestmark = pytest.mark.browser

LAST_BOT_DATA_JS = """
const list = JSON.parse(localStorage.getItem('hotline12345.transcript') || '[]');
const bots = list.filter((e) => e.role === 'bot');
return bots.length ? {kind: bots[bots.length - 1].kind, data: bots[bots.length - 1].data || {}} : null;
"""
ANSWERS = {"address": "光明小区5号楼门口", "occurred": "上周开始", "caller_name": "王女士", "phone": "13947761207"}


def file_complaint(driver, base_url: str, problem: str, answers: dict[str, str]) -> dict:
    open_widget(driver, base_url)
    before = type_answer(driver, problem)
    wait_turn(driver, before, {"ticket_question", "ticket_summary"})
    for _ in range(8):
        last = driver.execute_script(LAST_BOT_DATA_JS)
        if last["kind"] == "ticket_summary":
            break
        field = last["data"]["field"]
        before = type_answer(driver, answers[field])
        wait_turn(driver, before, {"ticket_question", "ticket_summary"})
    summary = last_bot(driver)
    table = summary.find_element(By.CSS_SELECTOR, "table").text
    phone = answers["phone"]
    assert f"{phone[:3]}****{phone[-4:]}" in table and phone not in summary.text      # masked in the summary
    before = click_button(driver, summary, "确认提交")
    new = wait_turn(driver, before, {"ticket_created", "rating_request"})
    created = [b for b in new if b["kind"] == "ticket_created"]
    assert created, new
    return {"text": created[0]["text"], "card": driver.find_elements(By.CSS_SELECTOR, ".hotline-submitted")[-1].text}


def test_a_complaint_gets_a_number_category_department_and_deadline(live_gateway, browser, second_browser):
    first = file_complaint(browser, live_gateway, "光明小区5号楼门口的路灯坏了一个星期了，晚上黑乎乎的", ANSWERS)
    number = re.search(r"GD\d{8}[0-9A-Z]{6}", first["text"]).group(0)
    assert number in first["card"] and "工单编号" in first["card"]
    assert "答复期限" in first["text"] and re.search(r"\d{4}年\d{1,2}月\d{1,2}日前", first["text"])
    assert "承办单位" in first["text"] and "问题分类" in first["text"], first["text"]

    second = file_complaint(second_browser, live_gateway, "光明小区5号楼那边路灯一直不亮，坏了好几天了",
                            dict(ANSWERS, caller_name="不留", phone="13812345678"))
    assert number in second["text"] and "已有市民反映" in second["text"], second["text"]
