"""Build the hybrid search index (dense vectors + BM25 tokens) into settings.index_dir.

Layout of the index folder:

    manifest.json            {"guides": N, "model": ..., "version": ..., "hashes": {...}, "data": "v-..."}
    v-<version>/dense.faiss  IndexFlatIP over normalised passage vectors (absent when lexical-only)
    v-<version>/passages.json  guide number of each vector, and the passage text
    v-<version>/lexical.json   guide names, BM25 token lists per group (core, detail), jieba vocabulary
    cache/<encoder key>/<passage hash>.npy   vectors of one guide's passages

Builds are incremental: a guide's vectors are cached under the hash of its passages,
so only guides whose searchable text changed are re-embedded. Each build writes a new
versioned data folder and then swaps manifest.json atomically, so a running process
never reads a half-written index (see retrieval.get_retriever for hot reload).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.dictionary import dictionary_words
from knowledge.documents import LEXICAL_GROUPS, SearchDoc, build_docs, dense_passages, lexical_fields
from knowledge.lexical import add_vocabulary, tokenize
from knowledge.schema import Guide, load_guides
from knowledge.status import MANIFEST

# Bump when documents.py / lexical.py change what gets indexed, so old indexes are rebuilt.
INDEX_FORMAT = 5
KEEP_VERSIONS = 2  # the current data folder and the one before (a reader may still be loading it)


@dataclass
class BuildReport:
    version: str
    guides: int
    passages: int
    embedded_guides: list[str]
    reused_guides: int
    changed: bool
    seconds: float
    model: str | None

    def summary(self) -> str:
        if not self.changed:
            return f"index up to date: {self.guides} guides, version {self.version}"
        dense = (f"{self.passages} passages, re-embedded {len(self.embedded_guides)} guide(s), "
                 f"reused {self.reused_guides}") if self.model else "lexical only (no embedding model)"
        return (f"index built: {self.guides} guides, {dense}, version {self.version} "
                f"in {self.seconds:.1f}s")


def guide_hash(guide: Guide) -> str:
    """Hash of the whole guide content (any edit changes it)."""
    payload = json.dumps(guide.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- the vector cache: cache/<encoder key>/<passage hash>.npy, shared by builds and the processes of knowledge/live.py
def vector_file(cache_dir: Path, passages: list[str]) -> Path:
    """Where the vectors of one guide's passages are cached (named by the hash of the passages)."""
    return cache_dir / f"{_sha(chr(10).join(passages))}.npy"


def read_vectors(path: Path, count: int) -> np.ndarray | None:
    """The cached vectors of `count` passages, or None when absent or unreadable."""
    if not path.exists():
        return None
    try:
        vectors = np.load(path)
    except (OSError, ValueError):
        return None
    return vectors if vectors.ndim == 2 and vectors.shape[0] == count else None


def write_vectors(path: Path, vectors: np.ndarray) -> None:
    """Write atomically: other processes may read the same cache at the same time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vectors)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(index_dir: Path) -> dict | None:
    try:
        return json.loads((Path(index_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def lexical_tokens(doc: SearchDoc, group: str) -> list[str]:
    tokens: list[str] = []
    for text, weight in lexical_fields(doc, group):
        tokens.extend(tokenize(text) * weight)
    return tokens


def _embed_docs(docs: list[SearchDoc], load_encoder, cache_dir: Path) -> tuple[list[np.ndarray], list[str]]:
    """Vectors of every guide's passages, from the cache where possible.

    The model is loaded (load_encoder()) only when some guide is not in the cache.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    per_doc: list[np.ndarray | None] = []
    todo: list[tuple[int, list[str], Path]] = []
    for i, doc in enumerate(docs):
        passages = dense_passages(doc)
        path = vector_file(cache_dir, passages)
        vectors = read_vectors(path, len(passages))
        per_doc.append(vectors)
        if vectors is None:
            todo.append((i, passages, path))
    if todo:
        flat = [p for _, passages, _ in todo for p in passages]
        vectors = load_encoder().passages(flat)
        start = 0
        for i, passages, path in todo:
            chunk = vectors[start:start + len(passages)]
            start += len(passages)
            write_vectors(path, chunk)
            per_doc[i] = chunk
    return per_doc, [docs[i].name for i, _, _ in todo]


def _prune(index_dir: Path, keep: str, cache_dir: Path | None, used_cache: set[str]) -> None:
    versions = sorted(
        (p for p in index_dir.glob("v-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    kept = [keep]
    for path in versions:
        if path.name in kept:
            continue
        if len(kept) < KEEP_VERSIONS:
            kept.append(path.name)
            continue
        shutil.rmtree(path, ignore_errors=True)
    if cache_dir is not None and cache_dir.exists():
        for path in cache_dir.glob("*.npy"):
            if path.name not in used_cache:
                path.unlink(missing_ok=True)
        for other in cache_dir.parent.iterdir():  # vectors of a previous model or precision
            if other.is_dir() and other != cache_dir:
                shutil.rmtree(other, ignore_errors=True)


def _write_data(staging: Path, guides: list[Guide], docs: list[SearchDoc], model_name: str | None,
                space: str) -> tuple[int, list[str], Path | None, set[str], int | None]:
    """Write lexical.json (and dense.faiss + passages.json with a model) into the staging folder."""
    vocabulary = dictionary_words(guides)
    add_vocabulary(vocabulary)
    lexical = {
        "names": [d.name for d in docs],
        "tokens": {group: [lexical_tokens(d, group) for d in docs] for group in LEXICAL_GROUPS},
        "vocabulary": vocabulary,
    }
    _write_json(staging / "lexical.json", lexical)
    if not model_name:
        return 0, [], None, set(), None

    import faiss

    from knowledge.encoder import get_encoder

    cache_dir = staging.parent / "cache" / space
    per_doc, embedded = _embed_docs(docs, lambda: get_encoder(model_name), cache_dir)
    owners, texts, used_cache = [], [], set()
    for i, doc in enumerate(docs):
        passages = dense_passages(doc)
        owners.extend([i] * len(passages))
        texts.extend(passages)
        used_cache.add(vector_file(cache_dir, passages).name)
    matrix = np.vstack(per_doc).astype(np.float32)
    index = faiss.IndexFlatIP(int(matrix.shape[1]))
    index.add(matrix)
    faiss.write_index(index, str(staging / "dense.faiss"))
    _write_json(staging / "passages.json", {"owner": owners, "text": texts})
    return len(texts), embedded, cache_dir, used_cache, int(matrix.shape[1])


def build_index(
    guides_dir: Path,
    index_dir: Path,
    model_name: str | None,
    *,
    force: bool = False,
    guides: list[Guide] | None = None,
) -> BuildReport:
    """Build (or refresh) the index. model_name=None builds a lexical-only index."""
    started = time.perf_counter()
    index_dir = Path(index_dir)
    guides = guides if guides is not None else load_guides(Path(guides_dir))
    if not guides:
        raise ValueError(f"no guides in {guides_dir}")
    docs = build_docs(guides)
    hashes = {g.name: guide_hash(g) for g in guides}

    # The vector space is identified without loading the model, so an up-to-date index (or a
    # change that needs no new vectors) costs no model load.
    space = "lexical"
    if model_name:
        from knowledge.encoder import expected_key

        space = expected_key(model_name)
    version = _sha(json.dumps(
        [INDEX_FORMAT, space, [(d.name, d.digest, hashes[d.name]) for d in docs]], ensure_ascii=False
    ))

    old = read_manifest(index_dir)
    if (not force and old and old.get("version") == version
            and (index_dir / old.get("data", "")).is_dir()):
        return BuildReport(version, len(docs), int(old.get("passages", 0)), [], len(docs), False,
                           time.perf_counter() - started, model_name)

    index_dir.mkdir(parents=True, exist_ok=True)
    data_name = f"v-{version}"
    staging = index_dir / f".staging-{data_name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    try:
        passages_total, embedded, cache_dir, used_cache, dim = _write_data(staging, guides, docs, model_name, space)
        target = index_dir / data_name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # only left behind by a failed build
    manifest = {
        "guides": len(docs),
        "model": model_name,
        "encoder_key": space if model_name else None,
        "dim": dim,
        "version": version,
        "format": INDEX_FORMAT,
        "data": data_name,
        "passages": passages_total,
        "hashes": hashes,
        "search_hashes": {d.name: d.digest for d in docs},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json(index_dir / MANIFEST, manifest)
    _prune(index_dir, data_name, cache_dir, used_cache)
    return BuildReport(version, len(docs), passages_total, embedded, len(docs) - len(embedded), True,
                       time.perf_counter() - started, model_name)
