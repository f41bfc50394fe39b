"""How much of a loaded Rasa model a forked second process would share (Rasa's environment).

Loads the trained model once, freezes the loaded objects out of the garbage collector's reach (as
scripts/rasa_server.py does), forks, lets the child understand a few hundred caller texts, and prints RSS, PSS
and private dirty memory of both processes from /proc: the question is whether a second Rasa process per machine
(to use the second core) could share the model instead of loading its own ~1 GB.

    PYTHONPATH=. .venv/rasa/bin/python bench/fork_memory.py --model $(.venv/app/bin/python scripts/train.py --print-path)

It measures NLU only (no dialogue, no tracker store, no action server): a first answer, not the cost of a
whole stack.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time

TEXTS = ["社保卡丢了怎么补办", "我要办营业执照", "孩子出生要办什么手续", "查询办件进度", "我要投诉小区噪音", "你好", "转人工"]
FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Dirty")


def memory_mb(pid: int) -> dict[str, int]:
    found = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            key, _, value = line.partition(":")
            if key in FIELDS:
                found[key] = int(value.split()[0]) // 1024
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", type=int, default=210)
    args = parser.parse_args()
    from rasa.core.agent import load_agent

    agent = asyncio.run(load_agent(model_path=args.model))
    gc.collect()
    gc.freeze()
    print("parent, model loaded:", memory_mb(os.getpid()), flush=True)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        async def understand() -> None:
            for i in range(args.texts):  # every text different, as callers' are: no cache hits
                await agent.parse_message(f"{TEXTS[i % len(TEXTS)]}{i}")

        asyncio.run(understand())
        os.write(write_end, b"x")
        time.sleep(10)  # measured by the parent meanwhile
        os._exit(0)
    os.read(read_end, 1)
    print(f"child, after {args.texts} texts understood:", memory_mb(child), flush=True)
    print("parent, meanwhile:", memory_mb(os.getpid()), flush=True)
    os.kill(child, 9)
    os.waitpid(child, 0)


if __name__ == "__main__":
    sys.exit(main())
