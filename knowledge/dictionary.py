"""Generate the jieba user dictionary from the knowledge base, so service names stay whole words.

Run: python -m knowledge.dictionary --out build/jieba
"""
from __future__ import annotations

import argparse
from pathlib import Path

from knowledge.settings import knowledge_settings
from knowledge.schema import load_guides

# Hotline vocabulary that is not a guide name but must not be split.
DOMAIN_WORDS = [
    "一件事", "一次办", "办件进度", "一表申请", "一窗受理", "一次告知", "全区通办", "容缺受理", "好差评",
    "社会保障卡", "社保卡", "医保卡", "公积金", "住房公积金", "营业执照", "身份证", "户口本", "出生医学证明",
    "受理编号", "办件编号", "转人工", "人工客服", "政务服务中心", "便民服务中心", "蒙速办", "内蒙古政务服务网",
    "12345", "一次性告知单", "异地就医", "无犯罪记录证明", "居住证", "驾驶证", "不动产", "退休", "新生儿",
]


def dictionary_words(guides) -> list[str]:
    words: list[str] = list(DOMAIN_WORDS)
    for guide in guides:
        words.append(guide.name)
        words.extend(guide.aliases)
        words.extend(item.name for item in guide.items)
    seen: set[str] = set()
    unique = []
    for word in words:
        word = word.strip().replace(" ", "")
        if 1 < len(word) <= 20 and word not in seen:
            seen.add(word)
            unique.append(word)
    return unique


def write_dictionary(out_dir: Path, guides_dir: Path) -> Path:
    guides = load_guides(guides_dir) if guides_dir.exists() else []
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "userdict.txt"
    # A high frequency makes jieba prefer the whole word over its parts.
    write_if_changed(path, "".join(f"{w} 2000 n\n" for w in dictionary_words(guides)))
    return path


def write_if_changed(path: Path, content: str) -> None:
    """Keep the file (and its mtime) when nothing changed, so make and the training hash stay quiet."""
    if not path.exists() or path.read_text(encoding="utf-8") != content:
        path.write_text(content, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/jieba"))
    args = parser.parse_args()
    path = write_dictionary(args.out, knowledge_settings().knowledge_dir)
    print(f"jieba dictionary: {path} ({sum(1 for _ in path.open(encoding='utf-8'))} words)")


if __name__ == "__main__":
    main()
