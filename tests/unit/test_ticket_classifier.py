"""The ticket classifier on clear appeals written for these tests (none from the training files or the
written examples), its output contract, and the manual-classification threshold."""
import pytest

from core.settings import get_settings
from core.tickets import classifier
from core.tickets.routing import read_routing, DEFAULT_ROUTING_FILE
from core.tickets.taxonomy import load_taxonomy

CLEAR = {
    "城乡建设": [
        "小区物业不打扫卫生，楼道里的垃圾堆了好多天也没人清理",
        "楼下的路灯晚上不亮，下水道井盖也松动了，晚上走路很危险",
        "开发商交房三年了，房产证到现在还办不下来",
    ],
    "劳动和社会保障": [
        "我在餐馆打工四个月，老板一分钱工资没发就把我辞退了",
        "公司一直没有给我缴纳养老保险和医疗保险",
        "企业退休人员的养老金今年什么时候调整",
    ],
    "教育文体": [
        "孩子读的小学要求每个家长每学期交三百元辅导资料费",
        "我在一家英语培训学校交了一万多学费，现在学校关门了",
        "班主任在校外开补习班，不去上的学生就被冷落",
    ],
    "商贸旅游": [
        "景区门票涨价了，导游还强迫游客去购物点买东西",
        "网上买的手机是翻新机，商家拒绝退货",
        "理发店办了会员卡充了两千元，没多久就关门了，钱退不回来",
    ],
    "卫生计生": [
        "医院做个检查就要一千多，医生看病态度还很差",
        "村卫生室的人没有行医资格，还给病人打吊针",
        "我母亲做完手术伤口感染，医院不承担任何责任",
    ],
    "环境保护": [
        "附近的造纸厂天天往河里排污水，河里的鱼都死光了",
        "小区旁边的搅拌站粉尘飞扬，晚上机器噪音吵得睡不着",
        "村边的养猪场臭气熏天，粪水也不处理",
    ],
    "交通运输": [
        "出租车司机拒载，还不打表乱要价",
        "去旗里的客车班次太少，一天只有一趟还经常晚点",
        "快递公司把我的包裹弄丢了，只肯赔十块钱",
    ],
    "党务政务": [
        "我们村党支部好多年没开过党员大会，发展党员也不公开",
        "有人在微信群里造谣说我们这里要封城，搞得人心惶惶",
        "我的党组织关系从原单位转出来后就找不到了",
    ],
    "国土资源": [
        "有人在基本农田上违法盖房子，国土部门也不管",
        "我们村的土地被征收了，征地补偿款到现在还没发完",
        "附近煤矿采空区地面塌陷，我家房子的墙都裂开了",
    ],
    "纪检监察": [
        "某局的科长收受老板的贿赂，帮他拿到了工程项目",
        "乡镇干部上班时间打牌喝酒，群众去办事找不到人",
        "镇长利用职权把镇里的工程都交给他弟弟去做",
    ],
    "经济管理": [
        "一家投资理财公司非法集资，承诺高息，现在老板跑路了",
        "银行没经过我同意就给我的信用卡办了分期还收手续费",
        "车出了事故，保险公司一直拖着不理赔",
    ],
    "科技与信息产业": [
        "运营商乱扣我的手机话费，给我开通了没订过的增值业务",
        "我们村手机信号很差，家里的宽带也经常断网",
        "我们公司的专利产品被别人仿冒了，在网上低价销售",
    ],
    "民政": [
        "我和老伴都没有收入，申请低保被街道拒绝了",
        "养老院的护工打骂老人，伙食也很差",
        "结婚登记处网上预约一直约不上",
    ],
    "农村农业": [
        "今年的种粮补贴到现在还没有发到农民手里",
        "村委会把我家的承包地收回去租给了别人",
        "禁牧区有人偷偷放羊，草场都被啃光了",
    ],
    "政法": [
        "我的身份证丢了，补办需要多长时间",
        "我被人打伤了，派出所一直不给处理",
        "小区里有人开赌场，每天晚上很多人聚集赌博",
    ],
}
CASES = [(level1, text) for level1, texts in CLEAR.items() for text in texts]


@pytest.fixture(scope="module")
def model():
    return classifier.get_classifier()


def test_clear_appeals_are_written_for_every_category():
    assert set(CLEAR) == set(load_taxonomy().level1s)


@pytest.mark.parametrize("level1,text", CASES)
def test_clear_appeal_gets_its_level1(model, level1, text):
    result = model.classify(text, threshold=0.0)
    assert result.level1 == level1, (text, result.candidates)


def test_classification_is_a_path_of_the_scheme_routed_by_the_table(model):
    taxonomy, routing = load_taxonomy(), read_routing(DEFAULT_ROUTING_FILE)
    for level1, text in CASES[::4]:
        result = model.classify(text, threshold=0.0)
        assert taxonomy.contains(result.level1, result.level2, result.level3), result
        assert result.department == routing.department(result.level1, result.level2, result.level3)
        assert 0.0 <= result.confidence <= 1.0
        assert [c["level1"] for c in result.candidates][0] == result.level1
        assert len({c["level1"] for c in result.candidates}) == len(result.candidates) == 3
        scores = [c["score"] for c in result.candidates]
        assert scores == sorted(scores, reverse=True) and scores[0] == result.confidence
        for c in result.candidates:
            assert taxonomy.contains(c["level1"], c["level2"], c["level3"])


@pytest.mark.parametrize("text,level2,level3", [
    ("今年冬天家里的暖气一点都不热，室温只有十三度", "城市建设和市政管理", "冬季采暖"),
    ("物业公司不作为，小区垃圾没人清理，物业费还年年涨", "住房保障与房地产", "物业服务"),
    ("我的身份证丢了，补办需要多长时间", "户籍证件", "身份证管理"),
])
def test_level2_and_level3_follow_the_names_and_examples(model, text, level2, level3):
    result = model.classify(text, threshold=0.0)
    assert (result.level2, result.level3) == (level2, level3), result


def test_appeal_type_comes_with_the_category(model):
    assert model.classify("我要举报一家工厂晚上偷排污水", threshold=0.0).appeal_type == "举报"
    assert model.classify("建议在小区门口增设一个公交站", threshold=0.0).appeal_type == "建议"


def test_unclear_text_goes_to_manual_classification(model, monkeypatch):
    vague = model.classify("你好，我想反映个情况")
    assert vague.confidence < get_settings().ticket_manual_threshold and vague.manual
    clear = model.classify("公司拖欠我们三个月工资不发")
    assert clear.confidence >= get_settings().ticket_manual_threshold and not clear.manual
    monkeypatch.setenv("TICKET_MANUAL_THRESHOLD", "0.999")
    get_settings.cache_clear()
    try:
        assert model.classify("公司拖欠我们三个月工资不发").manual
    finally:
        get_settings.cache_clear()


def test_a_long_appeal_keeps_every_token_offset_for_its_second_window(model):
    """The encoder's tokenizer truncates at its window; the offsets used to cut the second window must still
    cover the whole appeal (the cut-off tokens come back as overflow pieces)."""
    from tokenizers import Tokenizer

    from core.tickets import features

    if model.encoder is None:
        pytest.skip("the e5 encoder is built by make setup")
    text = "小区门口的路灯坏了一个多月，晚上老人孩子出门很不安全，" * 12
    whole = Tokenizer.from_file(str(classifier.E5_DIR / "tokenizer.json")).encode(text, add_special_tokens=False)
    offsets = features.token_offsets(text, model.encoder.tokenizer)
    assert len(whole.offsets) > features.E5_WINDOW_TOKENS + 40        # long enough to be truncated
    assert offsets == list(whole.offsets)
    assert features.second_chunk(text, model.encoder.tokenizer)
