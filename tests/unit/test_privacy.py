import pytest

from core.privacy import mask_id_number, mask_name, mask_phone, mask_text


def test_masks_keep_only_what_a_caller_needs_to_recognise():
    assert mask_id_number("150102199003071234") == "1501**********1234"
    assert mask_phone("13900001111") == "139****1111"
    assert mask_name("乌力吉") == "乌**"


def test_free_text_in_logs_has_no_id_or_phone_numbers():
    text = "我叫张三，身份证150102199003071234，电话13900001111，座机0477-8581234"
    masked = mask_text(text)
    assert "150102199003071234" not in masked
    assert "13900001111" not in masked
    assert "8581234" not in masked
    assert "1501**********1234" in masked


@pytest.mark.parametrize(("typed", "secret", "shown"), [
    ("1506 0219 9208 1545 27", "0219 9208 15", "1506**********4527"),
    ("１５０６２７１９８５０１０１０７１Ｘ", "１９８５０１０１", "1506**********071X"),
    ("150627-19850101-071X", "19850101", "1506**********071X"),
    ("139 4776 1207", "4776", "139****1207"),
    ("+86 139-4776-1208", "4776", "139****1208"),
    ("8613947761206", "13947761206", "139****1206"),
    ("我的手机是１３９４７７６１２０７", "４７７６", "139****1207"),
])
def test_numbers_are_masked_however_the_caller_types_them(typed, secret, shown):
    masked = mask_text(f"我的号码：{typed}，谢谢")
    assert secret not in masked and shown in masked


@pytest.mark.parametrize("text", ["受理编号NM20250301ABCD2345", "我今年65岁，2025年3月1日生", "金额1234567890元"])
def test_other_numbers_are_left_alone(text):
    assert mask_text(text) == text


@pytest.mark.parametrize(("text", "name", "shown"), [
    ("我叫乌力吉，电话13900001111", "乌力吉", "我叫乌**"),
    ("姓名：张伟", "张伟", "姓名：张*"),
    ("申请人是王芳，要办户口", "王芳", "申请人是王*"),
    ("我的名字是苏和巴特尔", "苏和巴特尔", "我的名字是苏****"),
    ("我叫张三想办户口", "张三", "我叫张*想办户口"),
])
def test_names_are_masked_where_the_text_introduces_them(text, name, shown):
    masked = mask_text(text)
    assert name not in masked and shown in masked


@pytest.mark.parametrize("text", ["申请人需要带身份证", "本人是来办事的", "名字怎么改"])
def test_words_after_a_cue_that_are_not_names_are_left_alone(text):
    assert mask_text(text) == text
