"""Which covered items of a 一件事 a caller wants, from the words they use (knowledge/items.py)."""
import pytest

from knowledge.catalog import get_catalog
from knowledge.items import detect_items, mentioned_items, parse_item_list, without_item_mentions

RESTAURANT = "开办餐饮店一件事"
LICENCE, FOOD, FIRE, SIGN, SEWAGE = ("营业执照办理", "食品经营许可", "公众聚集场所投入使用营业前消防安全检查",
                                     "户外招牌设置", "城镇污水排入排水管网许可")


def guide(name):
    found = get_catalog().get(name)
    assert found is not None, name
    return found


@pytest.mark.parametrize(("text", "chosen"), [
    ("我只要办营业执照和食品经营许可，消防那个先不办", [LICENCE, FOOD]),
    ("消防那个先不办", [LICENCE, FOOD, SIGN, SEWAGE]),
    ("除了消防其他都办", [LICENCE, FOOD, SIGN, SEWAGE]),
    ("不要招牌和排水", [LICENCE, FOOD, FIRE]),
    ("只办营业执照", [LICENCE]),
    ("除了营业执照还要办消防", [LICENCE, FIRE]),
    ("营业执照办，消防不办", [LICENCE]),
    ("污水那个以后再说，别的都要", [LICENCE, FOOD, FIRE, SIGN]),
])
def test_inclusion_and_exclusion(text, chosen):
    assert detect_items(guide(RESTAURANT), text) == chosen


def test_naming_items_limits_only_when_asked_or_with_a_limiting_word():
    g = guide(RESTAURANT)
    assert detect_items(g, "营业执照要多久") is None                       # a question about one item
    assert detect_items(g, "营业执照和食品经营许可", expecting=True) == [LICENCE, FOOD]
    assert detect_items(g, "我只办其中几项") is None                          # which ones: still to ask
    assert detect_items(guide("居民身份证换领补领"), "只办换领") is None      # not a bundle


def test_aliases_and_reordered_characters_name_items():
    company = guide("企业开办一件事")
    assert detect_items(company, "我只要营业执照和刻章，其他先不弄") == ["企业设立登记", "公章刻制"]
    assert mentioned_items(company, "银行开户我自己去约") == ["银行开户预约"]


def test_item_words_do_not_answer_a_situation():
    assert "消防" not in without_item_mentions(guide(RESTAURANT), "消防那个先不办")


def test_button_payload_keeps_only_known_items_in_guide_order():
    assert parse_item_list(guide(RESTAURANT), f"{FOOD}|不存在的事项|{LICENCE}") == [LICENCE, FOOD]
