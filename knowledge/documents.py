"""Turn a service guide into the searchable text that both retrievers index.

A guide is long; only a few of its fields say *what the service is* in words a
caller would use. This module picks those fields, normalises them, and exposes:

* `dense_passages(doc)`: several short passages per guide for the embedding index
  (the retriever keeps the best-matching passage per guide);
* `lexical_fields(doc, group)`: weighted fields for the two BM25 indexes: "core"
  (what the service is called and how people ask for it) and "detail" (materials,
  conditions, process, notes: evidence for questions about particulars);
* `SearchDoc.digest`: a hash of exactly that searchable content, so the index can
  tell which guides need re-embedding.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from knowledge.schema import Guide
from nlu.textnorm import normalize

# BM25 group -> field -> weight (how many times the field's tokens are repeated).
# Two groups keep document frequencies apart: nearly every guide lists 居民身份证 among its
# materials, which must not make 身份证 a worthless term for the guide *about* the ID card.
# Names and aliases say what the service is, so they weigh most in the core group.
LEXICAL_GROUPS: dict[str, dict[str, int]] = {
    "core": {"name": 3, "aliases": 2, "items": 2, "examples": 1},
    "detail": {"materials": 1, "material_notes": 1, "situations": 1, "results": 1, "details": 1},
}


@dataclass(frozen=True)
class SearchDoc:
    """The searchable view of one guide."""

    name: str
    kind: str
    audience: str
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Stable hash of the searchable content (not of the whole guide)."""
        payload = json.dumps(
            {"name": self.name, "kind": self.kind, "audience": self.audience,
             "fields": {k: list(v) for k, v in sorted(self.fields.items())}},
            ensure_ascii=False, sort_keys=True,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _clean(values) -> tuple[str, ...]:
    """Normalise, drop empties and duplicates, keep order."""
    seen: set[str] = set()
    out = []
    for value in values:
        text = normalize(str(value))
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return tuple(out)


def _short_material(name: str) -> str:
    """Material names often carry a parenthesised remark; the head is what people say."""
    for bracket in ("（", "("):
        if bracket in name:
            head = name.split(bracket, 1)[0].strip()
            if head:
                return head
    return name


def build_doc(guide: Guide) -> SearchDoc:
    """Collect the fields of a guide that describe what it is for."""
    item_names = [item.name for item in guide.items]
    # A single item usually repeats the guide name; keep it anyway (dedup happens per field).
    fields = {
        "name": _clean([guide.name]),
        "aliases": _clean(guide.aliases),
        "items": _clean(item_names),
        "examples": _clean(guide.examples),
        "materials": _clean(m.name for m in guide.materials),
        "material_notes": _clean(m.note for m in guide.materials),
        "situations": _clean(
            [s.question for s in guide.situations]
            + [o.label for s in guide.situations for o in s.options]
        ),
        "results": _clean([guide.result.name]),
        "details": _clean(
            list(guide.conditions) + list(guide.process) + list(guide.review_points) + list(guide.templates)
            + [guide.deferral_note, guide.fee, guide.time_limit.promised, guide.where.note, guide.where.online.note]
        ),
    }
    return SearchDoc(name=guide.name, kind=guide.kind, audience=guide.audience, fields=fields)


def build_docs(guides) -> list[SearchDoc]:
    return [build_doc(g) for g in guides]


def dense_passages(doc: SearchDoc) -> list[str]:
    """Short passages for the embedding model; each one should read like a topic.

    Long concatenations blur an embedding, so a guide gets one passage per alias
    and per example question, plus a summary of its name and covered items.
    """
    name = doc.name
    passages = [name]
    items = [i for i in doc.fields.get("items", ()) if i != name]
    if items:
        passages.append(f"{name}：{'、'.join(items)}")
        passages.extend(f"{item}（{name}）" for item in items)
    passages.extend(f"{alias}（{name}）" for alias in doc.fields.get("aliases", ()))
    passages.extend(doc.fields.get("examples", ()))
    materials = list(dict.fromkeys(_short_material(m) for m in doc.fields.get("materials", ())))
    if materials:
        passages.append(f"{name}所需材料：{'、'.join(materials[:12])}")
    seen: set[str] = set()
    return [p for p in passages if not (p in seen or seen.add(p))]


def lexical_fields(doc: SearchDoc, group: str) -> list[tuple[str, int]]:
    """(text, weight) pairs of one BM25 group ("core" or "detail")."""
    out = []
    for field_name, weight in LEXICAL_GROUPS[group].items():
        for text in doc.fields.get(field_name, ()):
            out.append((text, weight))
    return out
