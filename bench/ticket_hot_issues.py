"""Hot issues of the ticket desk (core/tickets/desk.hot_issues): time per call and cluster purity.

    python bench/ticket_hot_issues.py                 # 500, 1000 and 1500 tickets in the window
    python bench/ticket_hot_issues.py --sizes 1500 --repeat 5

Synthetic tickets on a throw-away SQLite database: 12 problems (streetlight, heating, night construction, ...)
reported at 40 places, with the phrases callers add to any complaint ("反映多次没人管", "希望尽快处理") that make
unrelated descriptions look alike. Purity = share of clustered tickets whose problem is their cluster's
majority problem; the problems are what a good clustering finds, so ideally 12 clusters of purity 1.0.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLACES = ["幸福小区", "阳光花园", "锦绣家园", "华府小区", "康和小区", "滨河花园", "东胜区第三中学", "天骄路",
          "新华大街", "人民广场"]
PROBLEMS = ["门口的路灯坏了一个多月了晚上出门很不方便", "暖气不热家里只有十五度老人孩子都冻感冒了",
            "旁边工地半夜打桩吵得根本睡不着", "楼下烧烤店油烟很大窗户都不敢开", "垃圾好几天没人清运臭味熏天",
            "停车位被外来车辆占用物业不管", "自来水发黄有异味不能喝", "广场舞噪音太大每天晚上十点还在跳",
            "公交车经常不按站停车司机态度差", "学校强制收取补课费每学期八百元", "单位拖欠三个月工资一直不发",
            "物业乱收费停车费一年涨了三次"]
SUFFIXES = ["", "，希望尽快处理", "，反映多次没人管", "，太影响生活了", "，请相关部门管一管"]


def seed(n: int, rng: random.Random) -> None:
    from core.db import session_scope
    from core.models import Ticket, utcnow
    from core.tickets.places import place_key

    now = utcnow()
    with session_scope() as session:
        for i in range(n):
            problem = rng.randrange(len(PROBLEMS))
            place = f"{rng.choice(PLACES)}{rng.randint(1, 4)}号楼"
            text = f"{place}{PROBLEMS[problem]}{rng.choice(SUFFIXES)}"
            session.add(Ticket(number=f"GD20990101{i:06d}", appeal_type="投诉", description=text, address=place,
                               place_key=place_key(place), due=date.today() + timedelta(days=5),
                               idempotency_key=f"bench-{i}", level1="", level2="", level3="",
                               occurred=str(problem),            # the true problem, read back below
                               created_at=now - timedelta(minutes=n - i), updated_at=now))


def run(n: int, repeat: int) -> dict:
    from core.db import session_scope, upgrade
    from core.models import Ticket
    from core.settings import get_settings
    from core.tickets import desk
    from sqlalchemy import delete, select

    get_settings.cache_clear()
    upgrade()
    with session_scope() as session:
        session.execute(delete(Ticket))
    seed(n, random.Random(n))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = desk.hot_issues(days=7, limit=50)
        times.append(time.perf_counter() - start)
    with session_scope() as session:
        truth = dict(session.execute(select(Ticket.number, Ticket.occurred)).all())
    clustered = majority = 0
    for cluster in result["clusters"]:
        counted = Counter(truth[number] for number in cluster["tickets"])
        clustered += sum(counted.values())
        majority += counted.most_common(1)[0][1]
    sizes = [c["size"] for c in result["clusters"]]
    return {"n": n, "median_s": statistics.median(times), "max_s": max(times), "clusters": len(sizes),
            "biggest": sizes[:3], "purity": majority / clustered if clustered else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 1500])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["HOTLINE_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-hot-")
    os.environ.pop("DATABASE_URL", None)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| tickets in window | median s | max s | clusters | biggest | purity |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        r = run(n, args.repeat)
        print(f"| {r['n']} | {r['median_s']:.2f} | {r['max_s']:.2f} | {r['clusters']} | {r['biggest']} | "
              f"{r['purity']:.3f} |")


if __name__ == "__main__":
    main()
