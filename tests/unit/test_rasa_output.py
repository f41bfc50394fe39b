from connectors.gateway.rasa_client import to_bot_message


def test_custom_payloads_keep_kind_data_and_buttons():
    msg = to_bot_message({"recipient_id": "x", "custom": {"kind": "greeting", "text": "您好", "data": {"a": 1},
                                                          "buttons": [{"title": "转人工", "payload": "/request_human"}]}})
    assert (msg.kind, msg.text, msg.data, msg.buttons[0].payload) == ("greeting", "您好", {"a": 1}, "/request_human")


def test_plain_rasa_text_becomes_a_text_message():
    msg = to_bot_message({"recipient_id": "x", "text": "好的", "buttons": [{"title": "是", "payload": "/affirm"}]})
    assert (msg.kind, msg.text, msg.buttons[0].title) == ("text", "好的", "是")
