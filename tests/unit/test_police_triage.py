"""Police matters that are not emergencies go to 110 or the police station, never into a 12345 ticket."""
from pathlib import Path

import pytest
import yaml

from core.safety import detect, police_matter

PHRASINGS = yaml.safe_load((Path(__file__).parent / "data" / "police_phrasings.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("text", PHRASINGS["police"])
def test_crimes_that_already_happened_are_referred_to_the_police(text):
    matter = police_matter(text)
    assert matter is not None, text
    assert "110" in matter.reply and "派出所" in matter.reply
    assert "12345不能" in matter.reply   # the caller is told why this is not a ticket


@pytest.mark.parametrize("text", PHRASINGS["not_police"])
def test_appeals_and_enquiries_stay_with_12345(text):
    assert police_matter(text) is None, text
    assert detect(text) is None, text


def test_a_crime_in_progress_is_an_emergency_not_a_referral():
    text = "有个人正在撬楼下的电动车锁，人还没走"
    assert detect(text) is not None   # the gateway checks emergencies first
    assert "110" in detect(text).numbers


def test_both_lists_are_long_enough_to_mean_something():
    assert len(PHRASINGS["police"]) >= 30 and len(PHRASINGS["not_police"]) >= 20
