"""The evaluation sets are well formed and stay apart from the training data.

bench/data/chat_eval.yaml (chat replay), nlu/eval/heldout.yml and nlu/eval/second_style/ (NLU) and
tests/unit/data/emergency_phrasings.yaml are measured against, never trained on.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from knowledge.nlu_examples import examples as generated_examples
from knowledge.schema import load_guides

ROOT = Path(__file__).resolve().parents[2]
CHAT_EVAL = ROOT / "bench" / "data" / "chat_eval.yaml"
HELDOUT = ROOT / "nlu" / "eval" / "heldout.yml"
SECOND = ROOT / "nlu" / "eval" / "second_style"
PHRASINGS = ROOT / "tests" / "unit" / "data" / "emergency_phrasings.yaml"
CATEGORIES = {"guide", "clarify", "context", "form", "status", "handoff", "emergency", "not_emergency",
              "smalltalk", "out_of_scope", "bundle_items"}
CHOOSE_OPTION = re.compile(r'^/choose_option\{"option": "([a-z0-9_]+)=([a-z0-9_]+)"\}$')
CHOOSE_ITEMS = re.compile(r'^/choose_items\{"items": "([^"]+)"\}$')


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return yaml.safe_load(CHAT_EVAL.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def guides() -> dict:
    return {g.name: g for g in load_guides(ROOT / "knowledge" / "guides")}


def documented_kinds() -> set[str]:
    """The kinds in the message-kind tables of docs/API.md (header `| kind | meaning | data |`)."""
    kinds: set[str] = set()
    in_table = False
    for line in (ROOT / "docs" / "API.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| kind | meaning"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            kinds |= set(re.findall(r"`([a-z_]+)`", line.strip("|").split("|")[0]))
    return kinds


def domain_intents() -> set[str]:
    intents: set[str] = set()
    for path in (ROOT / "domain").rglob("domain.yml"):
        intents |= set((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("intents", []))
    return intents


def heldout_utterances(path: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {intent: [str(t).strip() for t in texts] for intent, texts in data.items()}


def rasa_examples(path: Path) -> dict[str, list[str]]:
    """intent -> examples of a Rasa 3 NLU file, entity annotations reduced to their text."""
    out: dict[str, list[str]] = {}
    for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []) or []:
        if "intent" not in block:
            continue
        lines = [ln.strip()[2:].strip() for ln in str(block.get("examples", "")).splitlines()
                 if ln.strip().startswith("- ")]
        out.setdefault(block["intent"], []).extend(re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", ln) for ln in lines)
    return out


def training_utterances() -> set[str]:
    texts: set[str] = set()
    for path in sorted((ROOT / "nlu" / "data").glob("*.yml")):
        for examples in rasa_examples(path).values():
            texts |= set(examples)
    texts |= set(generated_examples(load_guides(ROOT / "knowledge" / "guides")))  # build/nlu at train time
    return texts


# ---------------------------------------------------------------- chat replay set

def test_chat_eval_cases_are_well_formed(cases):
    assert isinstance(cases, list) and len(cases) >= 320
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in cases:
        assert set(case) == {"id", "category", "turns", "expect"}, case
        assert case["category"] in CATEGORIES, case
        assert isinstance(case["turns"], list) and 1 <= len(case["turns"]) <= 4, case
        assert all(isinstance(t, str) and t.strip() and len(t) <= 2000 for t in case["turns"]), case
        expect = case["expect"]
        assert set(expect) <= {"kind", "guide", "items", "not_kind"}, case
        assert "kind" in expect or "not_kind" in expect, case
        if "items" in expect:
            assert "guide" in expect, case


def test_every_category_is_covered(cases):
    counts = {c: sum(1 for case in cases if case["category"] == c) for c in CATEGORIES}
    assert all(counts.values()), counts
    assert counts["guide"] >= 100 and counts["not_emergency"] >= 60 and counts["emergency"] >= 30, counts


def test_expected_kinds_are_documented(cases):
    kinds = documented_kinds()
    assert {"guide_answer", "clarify", "emergency", "application_paused", "status_question"} <= kinds
    for case in cases:
        for key in ("kind", "not_kind"):
            value = case["expect"].get(key)
            named = value if isinstance(value, list) else [value] if value else []
            unknown = [k for k in named if k not in kinds]
            assert not unknown, f"{case['id']}: kinds not in docs/API.md: {unknown}"


def test_expected_guides_and_items_exist(cases, guides):
    for case in cases:
        expect = case["expect"]
        names = expect.get("guide")
        names = names if isinstance(names, list) else [names] if names else []
        for name in names:
            assert name in guides, f"{case['id']}: unknown guide {name}"
        if "items" in expect:
            [name] = names
            covered = {i.name for i in guides[name].items}
            assert expect["items"] and set(expect["items"]) <= covered, f"{case['id']}: {expect['items']}"


def test_button_payloads_name_real_situations_and_items(cases, guides):
    options = {(s.id, o.value) for g in guides.values() for s in g.situations for o in s.options}
    for case in cases:
        for turn in case["turns"]:
            if turn.startswith("/choose_option"):
                match = CHOOSE_OPTION.match(turn)
                assert match and (match[1], match[2]) in options, f"{case['id']}: {turn}"
                names = case["expect"].get("guide")
                if isinstance(names, str):
                    guide = guides[names]
                    assert match[1] in {s.id for s in guide.situations}, f"{case['id']}: {turn} not of {names}"
            if turn.startswith("/choose_items"):
                match = CHOOSE_ITEMS.match(turn)
                guide = guides[case["expect"]["guide"]]
                assert match and set(match[1].split("|")) <= {i.name for i in guide.items}, f"{case['id']}: {turn}"


def test_every_guide_is_asked_about(cases, guides):
    asked = {c["expect"].get("guide") for c in cases if c["category"] == "guide"}
    assert set(guides) <= asked, sorted(set(guides) - asked)


def test_emergency_cases_are_consistent(cases):
    for case in cases:
        expect = case["expect"]
        if case["category"] == "emergency":
            assert expect.get("kind") == ["emergency"], case["id"]
        if case["category"] == "not_emergency":
            assert "emergency" in expect.get("not_kind", []), case["id"]


def test_replay_matcher():
    spec = importlib.util.spec_from_file_location("chat_eval", ROOT / "bench" / "chat_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    answer = {"kind": "guide_answer", "data": {"guide": "开办餐饮店一件事", "items": ["食品经营许可", "营业执照办理"]}}
    clarify = {"kind": "clarify", "data": {"question": "guide", "candidates": ["企业开办一件事", "个体工商户开办一件事"]}}
    assert module.check({"kind": ["guide_answer"], "guide": "开办餐饮店一件事",
                         "items": ["营业执照办理", "食品经营许可"]}, [answer])[0]
    assert not module.check({"kind": ["guide_answer"], "items": ["营业执照办理"]}, [answer])[0]
    assert module.check({"kind": ["guide_answer", "clarify"], "guide": "个体工商户开办一件事"}, [clarify])[0]
    assert not module.check({"kind": ["clarify"], "guide": "退休一件事"}, [clarify])[0]
    assert module.check({"not_kind": ["emergency"]}, [clarify])[0]
    assert not module.check({"kind": ["clarify"], "not_kind": ["emergency"]},
                            [clarify, {"kind": "emergency", "data": {}}])[0]
    json.dumps(module.summarise(answer), ensure_ascii=False)


# ---------------------------------------------------------------- NLU held-out sets

def test_heldout_is_large_and_has_no_emergency_intent():
    heldout = heldout_utterances(HELDOUT)
    assert "emergency" not in heldout
    assert sum(len(v) for v in heldout.values()) >= 300
    known = domain_intents() | {"fallback"}
    assert set(heldout) <= known, set(heldout) - known
    callers_can_type = {"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "ask_capabilities",
                        "out_of_scope", "request_human", "fallback", "ask_guide", "ask_variant", "ask_time",
                        "ask_where", "ask_online", "ask_fee", "start_application", "pause_application",
                        "resume_application", "cancel_application", "confirm_application", "check_status"}
    assert callers_can_type <= set(heldout), callers_can_type - set(heldout)
    texts = [t for v in heldout.values() for t in v]
    assert len(texts) == len(set(texts)), "an utterance is listed twice"


def test_heldout_does_not_leak_into_training_data():
    training = training_utterances()
    assert training, "the leak guard found no training data"
    for path in (HELDOUT, SECOND / "test.yml"):
        leaked = sorted(t for texts in heldout_utterances(path).values() for t in texts if t in training)
        assert not leaked, f"{path.name}: utterances also in the training data: {leaked}"
    second_train = {t for v in rasa_examples(SECOND / "train.yml").values() for t in v}
    leaked = sorted(second_train & training)
    assert not leaked, f"second_style/train.yml: utterances also in the training data: {leaked}"


def test_second_style_sets_match_and_are_disjoint():
    train = rasa_examples(SECOND / "train.yml")
    test = heldout_utterances(SECOND / "test.yml")
    assert set(train) - {"unclear"} == set(test) - {"fallback"}
    assert "unclear" in train and "fallback" in test
    assert set(train) <= domain_intents()
    assert all(len(v) >= 10 for v in train.values()) and all(len(v) >= 6 for v in test.values())
    overlap = {t for v in train.values() for t in v} & {t for v in test.values() for t in v}
    assert not overlap, sorted(overlap)


def test_emergency_phrasings_shape():
    data = yaml.safe_load(PHRASINGS.read_text(encoding="utf-8"))
    assert len(data["emergency"]) >= 60 and len(data["not_emergency"]) >= 80
    assert not set(data["emergency"]) & set(data["not_emergency"])
