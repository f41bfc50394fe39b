"""The category scheme, the routing table kept as data (validated on load), and the written examples."""
from pathlib import Path

import pytest
import yaml

from core.settings import get_settings
from core.tickets import routing
from core.tickets.examples import load_examples, parse_examples
from core.tickets.routing import RoutingError, load_routing, parse_routing, read_routing
from core.tickets.taxonomy import load_taxonomy

SHIPPED = Path(routing.DEFAULT_ROUTING_FILE)


def shipped_data() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def test_taxonomy_has_the_fifteen_categories_and_517_rows():
    taxonomy = load_taxonomy()
    assert len(taxonomy) == 517
    assert len(taxonomy.level1s) == 15
    assert {"城乡建设", "劳动和社会保障", "政法", "纪检监察", "民政"} <= set(taxonomy.level1s)
    assert "住房公积金" in taxonomy.level3s("城乡建设", "住房保障与房地产")
    assert taxonomy.contains("城乡建设", "安全生产") and taxonomy.contains("经济管理", "安全生产")  # same name twice
    assert not taxonomy.contains("城乡建设", "户籍证件")
    assert not taxonomy.contains("不存在")


def test_the_shipped_table_routes_every_category_of_the_scheme():
    table = read_routing(SHIPPED)
    taxonomy = load_taxonomy()
    for row in taxonomy.rows:
        department = table.department(row.level1, row.level2, row.level3)
        assert department in table.departments, row.path


@pytest.mark.parametrize("path,department", [
    (("城乡建设", "住房保障与房地产", "住房公积金"), "市住房公积金管理中心"),    # level-3 entry
    (("城乡建设", "城市建设和市政管理", "冬季采暖"), "市住房和城乡建设局"),
    (("城乡建设", "城市建设和市政管理", "城管执法"), "市城市管理综合执法局"),   # level-2 entry
    (("城乡建设", "住房保障与房地产", "物业服务"), "市住房和城乡建设局"),       # level-1 default
    (("政法", "户籍证件", "身份证管理"), "市公安局"),
    (("政法", "社会治安", "消防安全"), "市消防救援支队"),
    (("劳动和社会保障", "工资福利", "工资发放"), "市人力资源和社会保障局"),
    (("劳动和社会保障", "城镇职工社会保险", "职工医疗保险"), "市医疗保障局"),
    (("教育文体", "文化", "公共文化"), "市文化和旅游局"),
    (("环境保护", "环境污染", "噪音污染"), "市生态环境局"),
    (("农村农业", "草原草场", "破坏草原"), "市林业和草原局"),
    (("民政", "优抚", "老退役军人待遇"), "市退役军人事务局"),
    (("纪检监察", "贪污贿赂", "贪污"), "市纪委监委"),
    (("卫生计生", "食品药品监管", "食品安全"), "市市场监督管理局"),
])
def test_routes(path, department):
    assert read_routing(SHIPPED).department(*path) == department


def test_a_level1_without_a_department_is_refused():
    data = shipped_data()
    del data["level1"]["纪检监察"]
    with pytest.raises(RoutingError, match="纪检监察"):
        parse_routing(data, load_taxonomy())


def test_unknown_categories_and_unlisted_departments_are_refused_all_at_once():
    data = shipped_data()
    data["routes"]["城乡建设/不存在的类别"] = "市住房和城乡建设局"
    data["routes"]["政法/户籍证件"] = "市公安分局"          # not under departments
    data["level1"]["不存在"] = "市民政局"
    with pytest.raises(RoutingError) as raised:
        parse_routing(data, load_taxonomy())
    message = str(raised.value)
    assert "城乡建设/不存在的类别" in message and "市公安分局" in message and "不存在" in message


def test_a_broken_file_is_a_routing_error(tmp_path):
    bad = tmp_path / "routing.yaml"
    bad.write_text("departments: [市民政局\n", encoding="utf-8")
    with pytest.raises(RoutingError, match="not valid YAML"):
        read_routing(bad)
    with pytest.raises(RoutingError, match="cannot read"):
        load_routing(tmp_path / "missing.yaml")


def test_routing_file_setting_points_elsewhere_and_edits_are_picked_up(tmp_path, monkeypatch):
    data = shipped_data()
    data["departments"].append("市政务服务中心")
    data["level1"]["党务政务"] = "市政务服务中心"
    own = tmp_path / "routing.yaml"
    own.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ROUTING_FILE", str(own))
    get_settings.cache_clear()
    try:
        assert routing.department_for("党务政务", "其他", "其他") == "市政务服务中心"
        data["level1"]["党务政务"] = "市人民政府办公室"
        own.write_text(yaml.safe_dump(data, allow_unicode=True) + "\n# edited\n", encoding="utf-8")
        assert routing.department_for("党务政务", "其他", "其他") == "市人民政府办公室"
    finally:
        get_settings.cache_clear()


def test_written_examples_name_real_categories_and_cover_every_level1():
    examples = load_examples()
    assert {e.level1 for e in examples} == set(load_taxonomy().level1s)
    with pytest.raises(ValueError, match="城乡建设/没有这个"):
        parse_examples({"城乡建设": {"没有这个": {"*": ["路灯坏了"]}}}, load_taxonomy())
