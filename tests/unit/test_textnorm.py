import pytest

from nlu.textnorm import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("孩子剛出生要辦什麼", "孩子刚出生要办什么"),
        ("身份證過期了怎麼換", "身份证过期了怎么换"),
        ("我的電話是１３９０００１１１１１", "我的电话是13900011111"),
        ("  我要   办  社保卡 ", "我要办社保卡"),
        ("在吗？？？", "在吗？"),
        ("ＡＢＣ　１２３", "ABC 123"),
    ],
)
def test_traditional_fullwidth_and_spacing_are_canonicalised(raw, expected):
    assert normalize(raw) == expected


def test_normalize_is_idempotent_and_handles_empty():
    text = "辦理營業執照要帶什麼？"
    assert normalize(normalize(text)) == normalize(text)
    assert normalize("") == ""


def test_zero_width_characters_do_not_split_words():
    assert normalize("新\u200b生儿\u200c出\u200d生要办\ufeff什么\u2060") == "新生儿出生要办什么"
