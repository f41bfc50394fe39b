"""Field validation shared by the conversation and the API (core/validators.py)."""
from __future__ import annotations

from datetime import date

import pytest

from core import validators as v

TODAY = date(2025, 3, 20)


def make_id(first17: str) -> str:
    return first17 + v.id_check_char(first17)


# -- resident ID numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize("number", [
    "11010519491231002X",          # the standard's own example: checksum X
    "11010519491231002x",          # lower-case x is accepted and upper-cased
    "150102199003071237",
    "152627197008154522",
    "1501 0219 9003 0712 37",      # spaces as people read it out
])
def test_valid_id_numbers(number):
    check = v.validate_id_number(number, today=TODAY)
    assert check.ok, check.error
    assert check.value == number.replace(" ", "").upper()


@pytest.mark.parametrize("number, reason", [
    ("150102199003071234", "校验码"),                   # wrong check digit
    ("110105194912310021", "校验码"),                   # X expected, digit given
    ("15010219900307123", "18位"),                      # 17 digits
    ("1501021990030712377", "18位"),                    # 19 digits
    ("150102900307123", "15位"),                        # old 15-digit number
    (make_id("99010219900307123"), "地区码"),           # no such province
    (make_id("15000019900307123"), "地区码"),           # 00 city code
    (make_id("15010219900230123"), "出生日期"),         # 30 February
    (make_id("15010220300101123"), "不合理"),           # born in the future
    ("15010219900307123A", "数字"),
    ("我不知道", "没有听到"),
])
def test_invalid_id_numbers_say_why(number, reason):
    check = v.validate_id_number(number, today=TODAY)
    assert not check.ok
    assert reason in check.error


def test_id_helpers_and_consistency():
    number = "150102199003071237"
    assert v.id_birth_date(number) == date(1990, 3, 7)
    assert v.id_gender(number) == "男" and v.id_gender("11010519491231002X") == "女"
    assert v.check_id_consistency(number, birth_date=date(1990, 3, 7), today=TODAY) == ""
    assert "不一致" in v.check_id_consistency(number, birth_date=date(1991, 3, 7), today=TODAY)
    assert v.check_id_consistency(number, age=35, today=TODAY) == ""
    assert "35周岁" in v.check_id_consistency(number, age=25, today=TODAY)
    assert "性别为男" in v.check_id_consistency(number, gender="女", today=TODAY)


# -- dates --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("2024年3月5日", "2024-03-05"),
    ("二〇二四年三月五日", "2024-03-05"),
    ("二零二四年十二月二十三日", "2024-12-23"),
    ("2024-03-05", "2024-03-05"),
    ("2024/3/5", "2024-03-05"),
    ("2024.3.5", "2024-03-05"),
    ("20240305", "2024-03-05"),
    ("3月5号", "2025-03-05"),              # this year
    ("12月30号", "2024-12-30"),            # would be in the future this year: last year
    ("昨天", "2025-03-19"),
    ("2024年2月29日", "2024-02-29"),       # leap year
])
def test_dates_people_say(text, expected):
    check = v.validate_date(text, today=TODAY)
    assert check.ok, check.error
    assert check.value == expected


@pytest.mark.parametrize("text, reason", [
    ("2023年2月29日", "只有28天"),
    ("2024年4月31日", "只有30天"),
    ("2024年13月1日", "没有13月"),
    ("2026年1月1日", "不能晚于今天"),       # no future birth dates
    ("1800年1月1日", "太早"),
    ("2024年3月", "具体到哪一天"),
    ("下周", "没有听懂"),
])
def test_invalid_dates_say_why(text, reason):
    check = v.validate_date(text, today=TODAY)
    assert not check.ok
    assert reason in check.error


def test_planned_dates_may_be_in_the_future():
    assert v.validate_value("date", "2025年4月1日", label="预约办理日期", today=TODAY).ok
    assert not v.validate_value("date", "2025年4月1日", label="出生日期", today=TODAY).ok


# -- phones ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("13900001111", "13900001111"),
    ("139 0000 1111", "13900001111"),
    ("139-0000-1111", "13900001111"),
    ("+86 139 0000 1111", "13900001111"),
    ("手机号是19912345678", "19912345678"),
    ("0471-6612345", "04716612345"),
])
def test_valid_phones(text, expected):
    check = v.validate_phone(text)
    assert check.ok, check.error
    assert check.value == expected


@pytest.mark.parametrize("text, reason", [
    ("12900001111", "第二位"),
    ("1390000111", "11位"),
    ("139000011112", "11位"),
    ("abc", "数字"),
    ("", "没有听到"),
    ("0471-123", "固定电话"),
])
def test_invalid_phones_say_why(text, reason):
    check = v.validate_phone(text)
    assert not check.ok
    assert reason in check.error


# -- names ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("张三", "张三"),
    ("我叫李明", "李明"),
    ("欧阳娜娜", "欧阳娜娜"),
    ("阿依古丽·买买提", "阿依古丽·买买提"),
    ("巴特尔.那顺", "巴特尔·那顺"),          # other dots are normalised to ·
    ("巴特尔•那顺", "巴特尔·那顺"),
    ("乌力吉巴雅尔", "乌力吉巴雅尔"),          # long Mongolian name without a dot
    ("经办人刘洋", "刘洋"),
])
def test_valid_names(text, expected):
    check = v.validate_name(text)
    assert check.ok, check.error
    assert check.value == expected


@pytest.mark.parametrize("text, reason", [
    ("王", "完整"),
    ("Tom", "汉字"),
    ("张3", "数字"),
    ("谢谢", "不是姓名"),
    ("户口登记材料", "不是姓名"),
    ("张三李四王五赵六钱七", "过长"),
    ("", "没有听到"),
])
def test_invalid_names_say_why(text, reason):
    check = v.validate_name(text)
    assert not check.ok
    assert reason in check.error


# -- addresses, choices, text ---------------------------------------------------------------------------------------
def test_addresses():
    assert v.validate_address("呼和浩特市新城区新华大街1号").ok
    assert v.validate_address("地址是鄂尔多斯市东胜区天骄街道宝日陶亥社区3号楼2单元101室").value.startswith("鄂尔多斯市")
    assert "详细" in v.validate_address("呼和浩特").error
    assert not v.validate_address("12345").ok


@pytest.mark.parametrize("text, options, expected", [
    ("男", ["男", "女"], "男"),
    ("女孩", ["男", "女"], "女"),
    ("随爸爸", ["随父亲落户", "随母亲落户"], "随父亲落户"),
    ("工行", ["中国工商银行", "中国农业银行", "中国银行"], "中国工商银行"),
    ("中国银行", ["中国工商银行", "中国农业银行", "中国银行"], "中国银行"),
    ("不开通", ["开通", "暂不开通"], "暂不开通"),
    ("没有", ["有", "无"], "无"),
    ("第二个", ["临时挂失", "正式挂失", "解除挂失"], "正式挂失"),
    ("寄到家", ["网点现场领取", "免费邮寄到家"], "免费邮寄到家"),
])
def test_choices(text, options, expected):
    check = v.match_choice(text, options)
    assert check.ok, check.error
    assert check.value == expected


def test_choice_outside_options_lists_them():
    check = v.match_choice("建行", ["临时挂失", "正式挂失"])
    assert not check.ok and "临时挂失、正式挂失" in check.error


def test_text_and_dispatch():
    assert v.validate_text("餐饮服务").ok
    assert not v.validate_text("。。。").ok
    assert not v.validate_text("字" * 201).ok
    assert v.validate_value("phone", "13900001111").ok
    assert not v.validate_value("id_number", "123").ok


def test_cross_check_same_person_fields():
    from core.application_forms import FieldSpec

    fields = [FieldSpec("applicant_id_number", "身份证号码", "id_number"),
              FieldSpec("applicant_gender", "性别", "choice", ("男", "女")),
              FieldSpec("child_birth_date", "出生日期", "date")]
    data = {"applicant_id_number": "150102199003071237", "applicant_gender": "女", "child_birth_date": "2025-01-01"}
    errors = v.cross_check(fields, data, today=TODAY)
    assert list(errors) == ["applicant_id_number"] and "性别" in errors["applicant_id_number"]
    assert v.cross_check(fields, {**data, "applicant_gender": "男"}, today=TODAY) == {}


@pytest.mark.parametrize(("said", "options", "picked"), [
    ("寄到家里", ["网点现场领取", "免费邮寄到家"], "免费邮寄到家"),
    ("给我寄过来", ["窗口领取", "邮寄到家"], "邮寄到家"),
    ("自己去拿", ["窗口自取", "邮寄送达"], "窗口自取"),
    ("我自己", ["本人", "监护人代办", "委托他人代办"], "本人"),
    ("丢了 要补", ["有效期满换领", "遗失补领", "损坏换领", "登记项目变更换领"], "遗失补领"),
    ("过期了", ["有效期满换领", "遗失补领", "损坏换领", "登记项目变更换领"], "有效期满换领"),
    ("头一回办", ["新办", "变更", "延续"], "新办"),
])
def test_a_choice_said_in_the_callers_own_words_is_understood(said, options, picked):
    assert v.match_choice(said, options).value == picked


@pytest.mark.parametrize(("said", "options"), [
    ("不要寄", ["窗口自取", "邮寄送达"]),                    # negated: never the option it names
    ("丢了还是坏了", ["有效期满换领", "遗失补领", "损坏换领"]),          # two concepts: ask again
])
def test_own_words_that_do_not_pick_one_option_are_asked_again(said, options):
    assert v.match_choice(said, options).ok is False
