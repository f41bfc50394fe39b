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
NUMBERS = {"fire": ("119",), "gas": ("119",), "police": ("110",), "medical": ("120",), "danger": ("110",)}

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
        r"羊水破", r"要生了",
    ],
    "danger": [
        r"(想|要)(自杀|跳楼|轻生|寻死|不活)", r"不想活|活不下去", r"自杀", r"跳楼", r"跳河", r"落水", r"溺水",
        r"掉(进|到|在)?.{0,4}(河|水|井|冰窟|湖|海)",
        r"被困", r"困在", r"救命", r"救救", r"出车祸", r"车祸", r"割腕", r"上吊", r"服毒", r"走失", r"(孩子|老人).{0,3}(丢了|不见了)",
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
        }
        lines = [parts[c] for c in self.categories]
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
    if "danger" in categories and re.search(r"伤|血|落水|溺水|掉(进|到|在)?.{0,4}(河|水|井|湖|海)|车祸|坍塌", stripped) and "120" not in numbers:
        numbers.append("120")
    return Emergency(categories=categories, numbers=tuple(numbers))
