"""Command line: build the search index, or search it.

    python -m knowledge build [--force] [--lexical-only]
    python -m knowledge search "孩子刚出生要办什么" --top-k 5 --json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from knowledge.settings import knowledge_settings


def _build(args) -> int:
    from knowledge.encoder import model_available
    from knowledge.index import build_index
    from knowledge.schema import GuideError

    settings = knowledge_settings()
    model = None if args.lexical_only else settings.embedding_model
    if model and not model_available(model):
        print(
            f"embedding model not found: {model}\n"
            "build it (make e5-onnx), "
            "set EMBEDDING_MODEL, or pass --lexical-only",
            file=sys.stderr,
        )
        return 2
    try:
        report = build_index(settings.knowledge_dir, settings.index_dir, model, force=args.force)
    except GuideError as exc:
        print(f"guide errors:\n{exc}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.embedded_guides and len(report.embedded_guides) <= 10:
        print("re-embedded: " + ", ".join(report.embedded_guides))
    return 0


def _search(args) -> int:
    from knowledge.retrieval import get_retriever

    try:
        retriever = get_retriever(args.index_dir)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    result = retriever.search(args.query, k=args.top_k)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    verdict = "answerable" if result["answerable"] else "NOT answerable (out of scope or unclear)"
    print(f"{verdict}; {'clear' if result['clear'] else 'close: ' + ' / '.join(result['candidates'])}")
    for rank, hit in enumerate(result["results"], 1):
        print(f"{rank}. {hit['score']:.3f}  {hit['name']}  (dense {hit['dense']}, bm25 {hit['lexical']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build or refresh the hybrid search index")
    build.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    build.add_argument("--lexical-only", action="store_true", help="skip the embedding model")
    build.set_defaults(func=_build)
    search = sub.add_parser("search", help="search the index")
    search.add_argument("query")
    search.add_argument("--top-k", type=int, default=5)
    search.add_argument("--json", action="store_true", help="print the result as JSON")
    search.add_argument("--index-dir", type=Path, default=None)
    search.set_defaults(func=_search)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
