"""Appeal type (诉求类型) of a caller's words: 咨询, 求助, 投诉, 举报 or 建议.

Rules over cue words, not a model: the caller usually says what they want ("我要投诉", "我想举报",
"提个建议"), and the types differ by a few verbs and phrases a model trained on our data would not
see often enough. Each cue adds its weight to one type; the highest total wins, ties go to the
type earlier in TIE_ORDER. The caller's own word for the type weighs most (3), characteristic phrases
2 (偷排 -> 举报, 太慢了 -> 投诉, 能不能多开 -> 建议, 被困 -> 求助, 需要什么材料 -> 咨询), vague hints 1.
With no cue at all, a question (吗, ？, 怎么, 如何, ...) is a 咨询 and anything else a reported problem,
i.e. a 投诉. A negated type word ("不是投诉", "不想举报") does not count, and "怎么投诉 / 去哪举报"
asks how to do it (咨询).

Definitions used here (12345 practice): 投诉 - the caller is harmed by a service, a business or an
office and wants it put right; 举报 - the caller reports someone else's illegal or improper conduct;
求助 - the caller (or someone nearby) needs help with a hardship; 建议 - a proposal to improve something;
咨询 - a question about a policy or procedure.
"""
from __future__ import annotations

import re

APPEAL_TYPES = ("咨询", "求助", "投诉", "举报", "建议")
TIE_ORDER = ("举报", "投诉", "求助", "建议", "咨询")
DEFAULT_TYPE = "投诉"

_NOT = r"(?<!不是)(?<!不算)(?<!不想)(?<!不要)(?<!不用)(?<!没有)(?<!并非)(?<!不是要)(?<!不是想)"
_HOW = r"(?:怎么|怎样|如何|去哪|去哪里|在哪|在哪里|到哪|到哪里|哪里可以|向哪|向谁|找谁)"

# (type, weight, pattern). Patterns run on the text with spaces removed.
_CUES: list[tuple[str, int, str]] = [
    # the caller names the type
    ("举报", 3, _NOT + r"(?:举报|检举|揭发|告发)"),
    ("投诉", 3, _NOT + r"投诉"),
    ("建议", 3, _NOT + r"(?:建议|提议|倡议|提个意见|提点意见|提一点意见|提几点意见|献计献策|合理化意见)"),
    ("求助", 3, _NOT + r"(?:求助|求救|救救|救命|帮帮我|帮帮忙|帮帮他|帮帮她|帮帮我们|请帮忙|请求帮助|请帮帮|给予帮助|帮我们想想办法)"),
    ("咨询", 3, _NOT + r"(?:咨询|想了解|想知道|了解一下|问一下|问一问|问问|打听)"),
    ("咨询", 2, r"请问"),
    # 举报: someone else's wrongdoing
    ("举报", 2, r"偷排|偷倒|乱倒|乱排|直排|私排|偷采|盗采|偷挖|私挖|乱挖|盗挖|滥采|非法采|偷伐|盗伐|滥伐|滥砍|偷猎|盗猎"),
    ("举报", 2, r"偷税|漏税|逃税|虚开发票|假发票|骗保|套保|骗取|套取|冒领|吃空饷|虚报"),
    ("举报", 2, r"传销|非法集资|地下钱庄|高利贷|套路贷|赌博|赌场|聚赌|涉黄|卖淫|嫖娼|吸毒|贩毒|制毒"),
    ("举报", 2, r"贪污|受贿|行贿|索贿|挪用|以权谋私|公车私用|权钱交易|买官卖官|收受|收红包|吃拿卡要|违规发放"),
    ("举报", 2, r"黑车|黑诊所|黑作坊|黑加油站|黑网吧|无证行医|非法行医|无证经营|无照经营|无证无照|非法经营|非法营运"),
    ("举报", 2, r"假药|假酒|假货|售假|卖假|造假|制假|掺假|地沟油|病死猪|注水肉|私屠滥宰|过期食品|过期药"),
    ("举报", 2, r"私搭乱建|违章搭建|违法建设|违建|私自搭建|私自改建|私自占用|非法占用|非法占地|违法占地|乱占耕地"),
    ("举报", 2, r"违规操作|违规经营|违规排放|违法排放|违法经营|违规办学|违规补课|有偿补课|违规招生|违法用工|雇佣童工|童工"),
    ("举报", 2, r"不符合条件[^，。,.!！?？]{0,8}(?:领|享受|拿|吃|住|评上|分到)|优亲厚友|关系保|人情保|违规享受|骗领"
              r"|(?:接纳|放)未成年人|未成年人[^，。,.!！?？]{0,4}(?:进入|进去|上网|喝酒|买烟)"),
    ("举报", 1, r"违规|违法|非法|私自|偷偷|暗中|包庇|纵容|勾结|充当保护伞|保护伞"),
    # 投诉: the caller is harmed and wants it put right
    ("投诉", 2, r"不满|太慢|很慢|慢得|拖了|拖延|拖着|一拖再拖|久拖|太差|很差|极差|差劲|恶劣|态度不好|态度差|态度蛮横|不耐烦|刁难|骂人"),
    ("投诉", 2, r"乱收费|多收费|乱收|多收|高收费|收费不合理|违规收费|强制收费|强行收费|收费过高|乱涨价|乱罚款|强制消费|霸王条款"),
    ("投诉", 2, r"推诿|踢皮球|扯皮|不作为|敷衍|不管不问|不理不睬|置之不理|无人处理|没人处理|没有人处理|不予处理|拒不|拒绝处理|不给办|不给处理"),
    ("投诉", 2, r"拖欠|欠薪|克扣|不发工资|不给工资|不退|拒绝退|不给退|退款难|不给赔|不赔|扣押|押金"),
    ("投诉", 2, r"扰民|噪音|噪声|太吵|很吵|吵得|刺鼻|恶臭|臭味|异味|油烟|粉尘|灰尘太大|脏乱差|垃圾成堆|污水横流"),
    ("投诉", 2, r"坏了|损坏|破损|不亮|漏水|渗水|停水|停电|停暖|不热|没暖气|堵塞|堵了|冒水|塌陷|坑洼|积水|断了"),
    ("投诉", 2, r"多次反映|反复反映|一直反映|反映多次|多次打电话|多次投诉|至今未|至今没|迟迟|一直没|一直不|还没解决|仍未解决|没有解决|没解决|没有结果|没有下文"),
    ("投诉", 2, r"被骗|上当|欺骗|欺诈|忽悠|虚假宣传|质量问题|以次充好|缺斤短两|短斤少两|服务差|服务态度"),
    ("投诉", 1, r"反映|严重影响|影响.{0,4}(?:生活|休息|出行|睡眠|学习)|无法正常|不合理|不公平|不公正|乱象|问题"),
    # 求助: someone needs help
    ("求助", 2, r"被困|困在|困住|出不来|走投无路|无家可归|无处可去|流落街头|流浪|走失|找不到家|迷路|没饭吃|吃不上饭|揭不开锅"),
    ("求助", 2, r"生活困难|家庭困难|家里困难|生活无着|无依无靠|孤寡|独居老人|没人照顾|无人照顾|无人赡养|瘫痪在床|重病|大病|看不起病|没钱看病|没钱治病|交不起|付不起|上不起学"),
    ("求助", 2, r"没钱|身无分文|分文没有|无力承担|无力支付|负担不起|负担不了"),
    ("求助", 2, r"急需|急用|紧急|很着急|特别着急|非常着急|怎么办才好|不知道该怎么办|不知道怎么办|束手无策|没有办法了|没办法了|实在没办法|想想办法"),
    ("求助", 1, r"困难|一个人住|独自一人|摔倒|摔了一跤|摔伤|没人管|无人管|帮助|帮忙|救助|援助|救济|照顾"),
    # 建议: a proposal to improve something
    ("建议", 2, r"(?:希望|能不能|能否|可否|可不可以|是否可以|是否能|最好|应该|应当|请求|恳请|盼望|期望|期待|要是能)"
              r"[^，。,.!！?？]{0,8}(?:增加|增设|增开|加开|开通|设立|修建|建设|新建|多开|多设|多装|多建|多种|多放|多安排|多配"
              r"|延长|安装|加装|配备|提前|推迟|设置|设个|设一个|装个|加个|放个|弄个|建个|增添|引进|改为|改成|调整|完善|优化|规划|开设|建一个|建个|修一条|修个|装一些|装几个|统一|推广|取消)"),
    ("建议", 2, r"呼吁|出台.{0,6}(?:政策|措施|办法)|有个想法|一个想法|一点想法|一点建言|意见和建议|提出以下"),
    ("建议", 2, r"最好(?:能|是|可以)|把[^，。,.!！?？]{1,12}(?:改为|改成|放到|搬到|纳入|统一|延长|调整|放在|移到)"),
    ("建议", 1, r"希望|如果能|要是能|是否考虑|能否考虑|考虑一下|可以考虑"),
    # 咨询: a question about a policy or procedure
    ("咨询", 2, r"怎么办理|如何办理|怎样办理|怎么申请|如何申请|怎么申领|如何申领|怎么报名|如何报名|怎么领取|如何领取|怎么查询|如何查询"),
    ("咨询", 2, r"需要什么|需要哪些|要什么材料|要带什么|带什么材料|什么材料|哪些材料|什么手续|什么条件|哪些条件|(?<!不)符合条件|有没有资格|够不够条件"),
    ("咨询", 2, r"在哪里办|去哪里办|在哪办|去哪办|到哪里办|哪里办理|在什么地方|办理地点|几点上班|工作时间|多长时间能|多久能|要多久|什么时候能|什么时候发|什么时候开始"),
    ("咨询", 2, r"有什么政策|什么政策|政策是什么|标准是多少|标准是什么|收费标准|是否可以|可以吗|能不能办|能办吗|可以办吗|算不算|属于什么"),
    ("咨询", 1, r"怎么办|怎么|如何|怎样|哪里|哪些|多少|是否|能否|能不能|可不可以|有没有|什么时候|吗|呢[？?]|[？?]"),
]

_COMPILED = [(kind, weight, re.compile(pattern)) for kind, weight, pattern in _CUES]
# asking how or where to complain or report is a question: the type word inside it does not count
_HOW_TO = re.compile(_HOW + r"[^，。,.!！?？]{0,4}(?:投诉|举报|检举|反映|求助)")
HOW_TO_WEIGHT = 4
_QUESTION = re.compile(r"吗|[？?]|怎么|如何|怎样|哪里|哪些|什么|是否|能否|可否|有没有|多少|几点|几天|几号")
_SPACES = re.compile(r"\s+")


def appeal_scores(text: str) -> dict[str, int]:
    """Cue weights per type (each pattern counts once; for tests and explanations)."""
    text = _SPACES.sub("", text or "")
    scores = {kind: 0 for kind in APPEAL_TYPES}
    if _HOW_TO.search(text):
        scores["咨询"] += HOW_TO_WEIGHT
        text = _HOW_TO.sub("，", text)
    for kind, weight, pattern in _COMPILED:
        if pattern.search(text):
            scores[kind] += weight
    return scores


def appeal_type(text: str) -> str:
    """One of 咨询 求助 投诉 举报 建议 for what the caller said."""
    scores = appeal_scores(text)
    best = max(scores.values())
    if best <= 0:
        return "咨询" if _QUESTION.search(_SPACES.sub("", text or "")) else DEFAULT_TYPE
    return next(kind for kind in TIE_ORDER if scores[kind] == best)
