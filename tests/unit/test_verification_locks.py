"""Status verification locks (core/verification.py, issue 10): a bad client behind a shared address cannot
lock the others out of their own correct answer, and rotating conversation ids gives no extra tries."""
from __future__ import annotations

from core.verification import LockPolicy, verified_lookup
from tests.staff_fixtures import staff_db  # noqa: F401

POLICY = LockPolicy(max_failures=3, window_minutes=15, lock_minutes=15, number_max_failures=6,
                    number_lock_minutes=60, client_max_failures=8)
NAT = "ip:198.51.100.7"


def ask(number: str, factor: str, requester: str, client: str | None = None) -> str:
    def lookup():
        return {"number": number} if factor == f"right-{number}" else None

    return verified_lookup(number, requester, lookup, policy=POLICY, client=client).result


def test_a_bad_client_behind_a_shared_address_does_not_lock_out_the_neighbours(staff_db):  # noqa: F811
    for _ in range(3):
        assert ask("NM1", "wrong", NAT) == "denied"
    assert ask("NM1", "wrong", NAT) == "locked"          # locked out of the number it guessed at
    assert ask("NM2", "right-NM2", NAT) == "ok"          # the neighbour's own application: answered
    assert ask("NM3", "wrong", NAT) == "denied"          # and one mistyping neighbour is not locked at once


def test_rotating_conversation_ids_gives_no_more_tries_on_a_number(staff_db):  # noqa: F811
    results = [ask("NM4", "wrong", f"chat:web-{i}", client="client:abc") for i in range(4)]
    assert results == ["denied", "denied", "denied", "locked"]  # the address counted every conversation
    assert ask("NM4", "right-NM4", "chat:web-new", client="client:abc") == "locked"
    assert ask("NM4", "right-NM4", "chat:web-x", client="client:other") == "ok"  # someone else: fine


def test_a_number_guessed_at_from_everywhere_is_locked_for_everyone(staff_db):  # noqa: F811
    for i in range(6):
        assert ask("NM5", "wrong", f"ip:203.0.113.{i}") == "denied"
    assert ask("NM5", "right-NM5", "ip:192.0.2.1") == "locked"


def test_an_address_spraying_many_numbers_gets_one_try_per_number(staff_db):  # noqa: F811
    for i in range(8):
        assert ask(f"NMS{i // 2}", "wrong", NAT) == "denied"
    assert ask("NMNEW", "wrong", NAT) == "denied"
    assert ask("NMNEW", "right-NMNEW", NAT) == "locked"   # one wrong answer was its only try
    assert ask("NMOTHER", "right-NMOTHER", NAT) == "ok"   # a right first answer is still answered
