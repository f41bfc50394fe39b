"""Emergency detection: fires, crimes in progress, medical emergencies, gas leaks, people in danger.

This runs in the gateway before the dialogue engine sees a message, so it holds in every
conversation state (inside a form too). It is a rule list rather than a model on purpose:
it must be predictable, and a miss costs far more than a false alarm. Phrases that merely
contain an alarming word but name a government service (无犯罪记录证明, 火化, 死亡医学证明,
燃气报装, 医疗保险) are excluded explicitly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from nlu.textnorm import normalize

# Who to call for each kind of emergency, in the order they are read out.
# 12356: the national psychological assistance line (全国统一心理援助热线), answered in every province since 2025
CRISIS_LINE = "12356"
NUMBERS = {"fire": ("119",), "gas": ("119",), "police": ("110",), "medical": ("120",), "danger": ("110",),
           "self_harm": ("110", "120", CRISIS_LINE)}

# Each rule: category -> patterns. Numbers to call are derived from the categories hit.
_RULES: dict[str, list[str]] = {
    "fire": [
        r"[着著]火", r"失火", r"起火", r"火灾(?!险|保险)", r"烧起来", r"冒(黑|浓)?烟", r"火(很|太|越来越)大",
        r"(房子|屋|楼|车|厨房|仓库|店)(里)?(着|烧)", r"爆炸", r"火苗", r"救火", r"放火", r"纵火", r"火烧到", r"自燃",
    ],
    "gas": [r"(煤气|燃气|天然气|液化气)(罐|管子|管道|管)?.{0,2}(泄漏|泄露|漏了|漏气|味)", r"漏气", r"闻到.{0,4}(煤气|燃气|天然气)"],
    "police": [
        r"抢劫", r"抢(我|东西|钱|包)", r"打人", r"(被|有人).{0,4}(打|砍|捅|绑|抢|跟踪|劫持)",
        r"杀人", r"砍人", r"持刀", r"拿(着)?刀", r"(小偷|有贼|入室|撬门|撬锁)", r"正在偷",
        r"绑架", r"家暴", r"拐(卖|走)", r"强奸", r"非礼", r"(威胁|要)杀", r"打架", r"斗殴", r"枪",
        r"进(了)?贼", r"打起来", r"动刀", r"刀子", r"撬.{0,6}(锁|门|窗)", r"砸.{0,4}(车|窗|门)",
        r"(正在|正|现在|就在|当着).{0,6}(偷|抢|撬|砸|打)",
        r"(孩子|小孩|娃|儿子|女儿|闺女).{0,4}(被|让)?(人)?(抱走|拐|带走|抢走)",
    ],
    "medical": [
        r"晕倒", r"昏迷", r"昏过去", r"不省人事", r"没(有)?(了)?(呼吸|心跳|意识)", r"喘不(上|过)气",
        r"心脏病(犯|发作)", r"心梗", r"脑梗", r"中风", r"抽搐", r"(大)?出血", r"流(了)?很多血", r"中毒",
        r"(吃|喝|服)(了)?.{0,2}(农药|安眠药|老鼠药|毒药|敌敌畏)", r"急救", r"救护车", r"受(了)?(重)?伤", r"骨折",
        r"(烧|烫|咬|割|砸|摔|撞)伤", r"被.{0,3}(咬|撞)", r"流血不止|血流不止", r"触电", r"快不行了", r"不动了",
        r"从.{0,6}(摔|掉|跌)(下|了下)", r"摔下来", r"卡在.{0,4}(车|里)", r"追尾", r"叫不醒|喊不醒|没(了)?反应",
        r"(压|埋)在.{0,4}(下面|底下|里面)", r"被.{0,2}(压|埋)", r"(压|埋)着(人|个人)",
        r"羊水破", r"要生了", r"(胸口|心口|胸)(疼|痛|闷)得(厉害|不行|受不了)", r"满头大汗", r"呼吸困难", r"吐血", r"昏倒",
        r"(脸|嘴唇)(发紫|发青)", r"说不出话",
    ],
    "self_harm": [
        r"(想|要)(自杀|轻生|寻死|不活)", r"不想活|活不下去|活着没(有)?(意思|意义)|不如死了|死了算了|一死了之|想去死",
        r"自杀", r"轻生",
    ],
    "danger": [
        r"(想|要)(跳楼|跳河)", r"跳楼", r"跳河", r"落水", r"溺水",
        r"掉(进|到|在)?.{0,4}(河|水|井|冰窟|湖|海)",
        r"被困", r"困在", r"困(了)?人", r"困(在)?(里面|里头|里边|屋里|车里|井里)", r"(锁|关)在.{0,6}(出不去|出不来)", r"(要|想)?跳下(去|来)", r"站在.{0,4}(楼顶|天台|窗台|桥上)",
        r"救命", r"救救", r"出车祸", r"车祸", r"割腕", r"上吊", r"服毒", r"走失", r"(孩子|老人).{0,3}(丢了|不见了)",
    ],
}

# Service vocabulary that contains alarming words but is an ordinary enquiry.
_BENIGN = [
    r"无犯罪(记录)?证明", r"犯罪记录", r"火化", r"死亡(医学)?证明", r"(燃气|用气|天然气|煤气)(报装|开户|过户|缴费|费)",
    r"医疗保险", r"救命钱", r"工伤(认定|保险)", r"残疾", r"生育(登记|津贴|保险)", r"火车", r"消防(安全)?检查", r"枪版",
]

# A complaint, suggestion or service enquiry that merely mentions emergency services or a past harm
# ("120急救车来得太慢了我要投诉", "上班受伤了怎么申请工伤", "急救培训去哪报名") is not an emergency,
# unless something says it is happening now. Only these mentionable words are discounted: a threat to
# life (晕倒, 持刀, 抱走, 着火 ...) is an emergency whatever else the caller says ("…，我要反映").
_SERVICE_CONTEXT = re.compile(
    r"投诉|建议|反映|意见|收费|太贵|太慢|来得慢|培训|报名|课程|怎么申请|如何申请|申请|报销|补贴|赔偿|"
    r"证明|认定|材料|流程|手续|备案|去哪办|在哪办|怎么办理|咨询|上次|以前|去年|上个月|前几天|找回来|立案|进展")
_MENTIONABLE = re.compile(r"急救|救护车|受(了)?(重)?伤|(烧|烫|咬|割|砸|摔|撞)伤|骨折|火灾|车祸|中毒|溺水|落水|触电")
_URGENT = re.compile(r"正在|现在|马上|赶紧|快(点|来|救|叫|打)|救命|刚刚|刚才|还没(走|跑)|还在|一直在|不动|眼前|来不及|救救|"
                     r"人压|压在|起不来|往兜里")

# Weak signals: alarming only when something says it is happening now ("有人在我店里偷东西，还没跑",
# "陌生人一直在拧我家门把手，现在还在", "两辆车撞了，有人躺地上不动"); otherwise a past event or a
# report for a department ("路面塌了个坑，能不能修一下").
_WEAK_RULES: dict[str, list[str]] = {
    "police": [r"偷", r"撬", r"拧.{0,4}(门|锁)", r"跟着我", r"堵在门口"],
    "medical": [r"(躺|倒)(在)?.{0,5}(不动|起不来)", r"撞(了|上|倒)", r"翻(车|沟|进)"],
    "danger": [r"坍塌", r"塌(了|下来)"],
}

_COMPILED = {cat: re.compile("|".join(pats)) for cat, pats in _RULES.items()}
_WEAK = {cat: re.compile("|".join(pats)) for cat, pats in _WEAK_RULES.items()}
_BENIGN_RE = re.compile("|".join(_BENIGN))
_NEGATED = re.compile(r"(不是|没有|并非)(紧急|着火|火灾|急事)")


@dataclass(frozen=True)
class Emergency:
    categories: tuple[str, ...]
    numbers: tuple[str, ...]

    @property
    def reply(self) -> str:
        parts = {
            "fire": "如有火情请立即拨打119火警电话，迅速撤离到安全地带，不要乘坐电梯",
            "gas": "燃气泄漏请立即关闭总阀、开窗通风、不要开关电器或使用明火，撤离后拨打119",
            "police": "如正在发生违法犯罪或人身安全受到威胁，请立即拨打110报警",
            "medical": "如有人突发疾病或受伤，请立即拨打120急救电话",
            "danger": "如有人身处危险，请立即拨打110求助，如有受伤同时拨打120",
            "self_harm": ("听到您这样说，我们很担心您。您的安全最重要：如果已经伤害了自己或马上就有危险，请立即拨打120"
                          "或110；想找人说说心里话，可以拨打心理援助热线" + CRISIS_LINE + "，也请告诉身边信任的人陪着您"),
        }
        lines = [parts[c] for c in self.categories]
        if self.categories == ("self_harm",):  # a person in crisis: no "emergency" banner, the same numbers
            return "；".join(lines) + "。12345政务服务热线不能派出救援，有危险请先拨打110或120。"
        return "【紧急情况】" + "；".join(lines) + "。12345政务服务热线不能派出救援，请先拨打" + "、".join(self.numbers) + "。"


def detect(text: str) -> Emergency | None:
    """Return the emergency described in text, or None."""
    clean = normalize(text)
    if not clean or _NEGATED.search(clean):
        return None
    stripped = _BENIGN_RE.sub("", clean)
    urgent = bool(_URGENT.search(stripped))
    if _SERVICE_CONTEXT.search(stripped) and not urgent:
        stripped = _MENTIONABLE.sub("，", stripped)
    categories = tuple(cat for cat in _RULES
                       if _COMPILED[cat].search(stripped) or (urgent and cat in _WEAK and _WEAK[cat].search(stripped)))
    if not categories:
        return None
    numbers: list[str] = []
    for cat in categories:
        numbers.extend(n for n in NUMBERS[cat] if n not in numbers)
    if "danger" in categories and re.search(r"伤|血|割腕|上吊|服毒|落水|溺水|掉(进|到|在)?.{0,4}(河|水|井|湖|海)|车祸|坍塌", stripped) and "120" not in numbers:
        numbers.append("120")
    return Emergency(categories=categories, numbers=tuple(numbers))


# -- police matters that are not emergencies --------------------------------------------------------------------
# A crime that already happened (fraud, a theft found afterwards, blackmail) or a report of a crime is for the
# police, not a 12345 ticket: 110 or the local police station (派出所) takes the report, and 12345 says so
# instead of filing it. Something happening now is an emergency (detect() above) and is checked first.
_POLICE_MATTERS: dict[str, str] = {
    "fraud": r"被(?:人|骗子|坏人)?骗|受骗|上当|被诈骗|遭遇?(?:了)?(?:电信|网络|网上)?诈骗|(?:骗子|诈骗分子|对方)(?:把|骗|转走)|"
             r"骗(?:了|走)(?:我|我们|我家|老人|我妈|我爸|家里)?.{0,8}(?:钱|块|元|万|存款)|(?:冒充|假冒)(?:我的?|成)?(?:公检法|警察|客服|领导|老板|亲戚|朋友|熟人)|"
             r"刷单.{0,6}(?:钱|骗)|(?:钱|款|存款)被(?:人)?(?:骗|转走|盗刷)|银行卡被盗刷|账户被盗",
    "theft": r"被(?:人)?偷(?:了|走)|(?:钱包|手机|电动车|自行车|车|东西|钱)被(?:人)?(?:偷|盗)|失窃|被盗(?!版)|遭(?:了)?贼|偷了我(?:的|家)",
    "threat": r"敲诈|勒索|恐吓|威胁我|放高利贷|暴力催收|裸聊",
    "crime_report": r"(?:赌博|赌场|聚众赌|吸毒|贩毒|卖淫|嫖娼|涉黄|涉赌|涉毒|传销|黑社会|黑恶势力|拐卖|偷拍)",
}
_POLICE_COMPILED = {cat: re.compile(p) for cat, p in _POLICE_MATTERS.items()}
# Service questions and suggestions about these subjects are not reports ("反诈宣传", "怎么防范电信诈骗").
_POLICE_BENIGN = re.compile(r"防(?:范)?(?:电信|网络)?诈骗|反诈|防骗|宣传|讲座|培训|怎么防|如何防|预防|骚扰电话|诈骗电话太多|"
                            r"无犯罪|犯罪记录|建议")

POLICE_REPLY = {
    "fraud": "您遇到的是诈骗，属于公安机关管辖的案件，12345不能作为工单受理。请尽快拨打110报警，或到就近派出所报案，"
             "同时联系银行冻结账户，保留转账记录、聊天记录和对方账号等证据。",
    "theft": "财物被盗属于公安机关管辖的案件，12345不能作为工单受理。请拨打110报警，或到就近派出所报案，"
             "保护好现场，保留监控、购买凭证等线索。",
    "threat": "敲诈勒索、恐吓威胁等属于公安机关管辖的违法犯罪行为，12345不能作为工单受理。请拨打110报警，"
              "或到就近派出所报案，保留聊天记录、通话录音等证据。",
    "crime_report": "举报赌博、毒品、卖淫嫖娼、传销、黑恶势力等违法犯罪线索，请直接拨打110，或到就近派出所举报，"
                    "公安机关会为举报人保密。12345不能作为工单受理这类线索。",
}


@dataclass(frozen=True)
class PoliceMatter:
    category: str

    @property
    def reply(self) -> str:
        return POLICE_REPLY[self.category] + "如果危险正在发生，请立即拨打110。"


def police_matter(text: str) -> PoliceMatter | None:
    """A crime that already happened or a crime report (not an emergency: check detect() first), or None."""
    clean = normalize(text)
    if not clean or _POLICE_BENIGN.search(clean):
        return None
    for category, pattern in _POLICE_COMPILED.items():
        if pattern.search(clean):
            return PoliceMatter(category)
    return None
