"""Long-lived objects out of the garbage collector's reach, once a process has loaded what it keeps.

A full collection walks every tracked object. Rasa's model, the search index, the guides and the e5 tokenizer
are millions of objects that live as long as the process, so each full collection paused the process's one event
loop for every conversation in flight (measured with bench/capacity.py: at 60 callers, Rasa's p95 fell from
771 to 322 ms once they were frozen). `freeze()` collects what is garbage now and moves everything else to the
permanent generation; objects made later are collected as usual. Call it once start-up has loaded what the
process keeps, not on a caller's request path (the collection before the freeze is a pause of its own).
"""
from __future__ import annotations

import gc


def freeze() -> None:
    gc.collect()
    gc.freeze()
