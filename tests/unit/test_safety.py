"""The emergency rule: real emergencies always get 110/119/120; service enquiries never do."""
from pathlib import Path

import pytest
import yaml

from core.safety import detect

EMERGENCIES = [
    ("我家着火了", "119"),
    ("楼道里起火了好大的烟", "119"),
    ("邻居家冒浓烟了", "119"),
    ("厨房的煤气泄漏了怎么办", "119"),
    ("闻到很重的天然气味", "119"),
    ("车库里的车烧起来了", "119"),
    ("有人拿着刀在街上砍人", "110"),
    ("楼下有人打架还拿着刀", "110"),
    ("有小偷正在撬我家的门", "110"),
    ("我被抢劫了", "110"),
    ("我老公家暴我，现在还在打", "110"),
    ("有人要绑架孩子", "110"),
    ("我爸突然晕倒了", "120"),
    ("老人摔倒后昏迷不醒", "120"),
    ("孩子喘不上气了", "120"),
    ("我妈心脏病发作了", "120"),
    ("有人吃了农药", "120"),
    ("我老婆羊水破了要生了", "120"),
    ("有人要跳楼", "110"),
    ("我不想活了，想自杀", "110"),
    ("孩子掉进河里了", "120"),
    ("出车祸了有人受伤流了很多血", "120"),
    ("救命啊", "110"),
    ("我家著火了", "119"),  # Traditional
    ("有人溺水", "110"),
]

NOT_EMERGENCIES = [
    "无犯罪记录证明怎么开",
    "开无犯罪记录证明要带什么",
    "燃气报装怎么申请",
    "天然气过户需要什么材料",
    "我想办医疗保险",
    "火化需要带什么材料",
    "居民死亡医学证明去哪开",
    "工伤认定申请要什么材料",
    "开餐饮店要做消防安全检查吗",
    "你好",
    "孩子刚出生要办什么",
    "我很火大，你们办事太慢了",
    "残疾人证怎么办",
]


@pytest.mark.parametrize(("text", "number"), EMERGENCIES)
def test_emergencies_are_sent_to_the_right_number(text, number):
    found = detect(text)
    assert found is not None, text
    assert number in found.numbers
    assert number in found.reply


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_ordinary_service_questions_are_not_emergencies(text):
    assert detect(text) is None


@pytest.mark.parametrize("text", ["我不想活了", "活着没意思，不如死了算了", "欠了好多钱，活不下去了", "我想自杀"])
def test_a_person_in_crisis_is_given_the_crisis_line_and_the_emergency_numbers(text):
    found = detect(text)
    assert found is not None and found.categories == ("self_harm",), text
    assert {"110", "120", "12356"} <= set(found.numbers)
    assert "12356" in found.reply and "120" in found.reply and "担心您" in found.reply
    assert "【紧急情况】" not in found.reply     # spoken to the person, not announced as an incident


@pytest.mark.parametrize("text", ["想死你们了", "办个证累死了", "笑死我了", "急死了，材料还没齐"])
def test_everyday_exaggerations_are_not_a_crisis(text):
    assert detect(text) is None


def test_self_harm_in_progress_also_gets_an_ambulance():
    assert "120" in detect("我朋友割腕了").numbers


def test_reply_says_the_hotline_cannot_send_help():
    assert "不能派出救援" in detect("着火了").reply


# Phrasings written apart from the rule (tests/unit/data/emergency_phrasings.yaml): everyday requests
# and complaints full of alarming words (丢了, 停水, 坏了, 着急, 救, 火, 偷, 伤), and real emergencies
# however they are phrased, crimes in progress included.
_PHRASINGS = yaml.safe_load((Path(__file__).parent / "data" / "emergency_phrasings.yaml").read_text(encoding="utf-8"))


def test_the_phrasing_sets_are_wide_enough():
    assert len(_PHRASINGS["emergency"]) >= 60 and len(_PHRASINGS["not_emergency"]) >= 60


@pytest.mark.parametrize("text", _PHRASINGS["emergency"])
def test_written_emergencies_are_detected(text):
    assert detect(text) is not None, text


@pytest.mark.parametrize("text", _PHRASINGS["not_emergency"])
def test_everyday_requests_never_raise_the_alarm(text):
    assert detect(text) is None, text


@pytest.mark.parametrize("text", ["我家老人走失了，想咨询一下怎么办", "孩子被人抱走了，我要反映", "有人持刀砍人，我要投诉",
                                  "我妈晕倒了，以前也晕过"])
def test_a_threat_to_life_is_an_emergency_whatever_else_is_said(text):
    assert detect(text) is not None, text
