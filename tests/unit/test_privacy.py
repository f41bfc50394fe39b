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
