"""Follow a live source of published guides (the guide editor's store) in memory: no restart, no index rebuild.

The built index (build/index, from the YAML guides) is the base. A *source* says which guides are published
now; this module keeps, per process, a Catalog of exactly those guides and a Retriever derived from the base
in which only the guides whose searchable text differs from the base are re-tokenised and re-embedded with
the already loaded model (the other guides' BM25 tokens and vectors are reused), so a publish reaches the
answers of this process within one poll interval plus the embedding of one guide.

    live.install(source, poll_seconds=1.0)   # source.revision() -> str (cheap), source.published() -> [Guide]
    get_catalog() / get_retriever()          # knowledge.catalog / knowledge.retrieval then serve the live set

knowledge/ imports nothing above it: the source (a database query in core/guides) is handed in by the caller.
`derive()` is also what hit-testing uses to search a draft without publishing it.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from knowledge.catalog import Catalog
from knowledge.dictionary import dictionary_words
from knowledge.documents import LEXICAL_GROUPS, SearchDoc, build_doc, dense_passages
from knowledge.index import lexical_tokens, read_vectors, vector_file, write_vectors
from knowledge.lexical import BM25, add_vocabulary
from knowledge.retrieval import Retriever
from knowledge.schema import Guide

log = logging.getLogger(__name__)

VECTOR_MEMORY = 256  # passage blocks (one guide each) kept in memory per process


class GuideSource(Protocol):
    def revision(self) -> str:
        """Changes whenever the set of published guides callers should get changes (a cheap query)."""

    def published(self) -> list[Guide]:
        """The guides callers should get now."""


# -- what the base index holds, read once per base version ------------------------------------------------------
class _Base:
    def __init__(self, base: Retriever) -> None:
        self.version = base.version
        data = base.index_dir / base.manifest["data"]
        lexical = json.loads((data / "lexical.json").read_text(encoding="utf-8"))
        self.tokens: dict[str, list[list[str]]] = lexical["tokens"]
        self.digests: dict[str, str] = dict(base.manifest.get("search_hashes") or {})
        self.position = {name: i for i, name in enumerate(base.names)}
        self.texts: list[str] = []
        self.matrix: np.ndarray | None = None
        self.rows: dict[int, np.ndarray] = {}
        if base.dense_index is not None:
            passages = json.loads((data / "passages.json").read_text(encoding="utf-8"))
            self.texts = list(passages["text"])
            self.matrix = base.dense_index.reconstruct_n(0, base.dense_index.ntotal)
            owner = np.asarray(base.owner)
            self.rows = {i: np.nonzero(owner == i)[0] for i in range(len(base.names))}


_base_lock = threading.Lock()
_base_cache: dict[str, _Base] = {}
_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
_vectors_lock = threading.Lock()


def _base_of(base: Retriever) -> _Base:
    with _base_lock:
        found = _base_cache.get(base.version)
        if found is None:
            found = _Base(base)
            _base_cache.clear()            # one base at a time: the current index version
            _base_cache[base.version] = found
        return found


def _passage_vectors(encoder, passages: list[str], cache_dir: Path) -> np.ndarray:
    """Vectors of one guide's passages: from memory, from the index's vector cache, or embedded now."""
    path = vector_file(cache_dir, passages)
    with _vectors_lock:
        hit = _vectors.get(path.name)
        if hit is not None:
            _vectors.move_to_end(path.name)
            return hit
    vectors = read_vectors(path, len(passages))
    if vectors is None:
        vectors = encoder.passages(passages)
        try:  # shared with `python -m knowledge build` and the other processes
            write_vectors(path, vectors)
        except OSError:
            log.warning("could not write the vector cache %s", path)
    with _vectors_lock:
        _vectors[path.name] = vectors
        while len(_vectors) > VECTOR_MEMORY:
            _vectors.popitem(last=False)
    return vectors


_docs: dict[int, tuple[Guide, SearchDoc]] = {}
_docs_lock = threading.Lock()


def _doc(guide: Guide) -> SearchDoc:
    """build_doc, remembered per Guide object (the store hands the same object back while it is unchanged)."""
    with _docs_lock:
        found = _docs.get(id(guide))
        if found is not None and found[0] is guide:
            return found[1]
    doc = build_doc(guide)
    with _docs_lock:
        if len(_docs) > 4 * VECTOR_MEMORY:
            _docs.clear()
        _docs[id(guide)] = (guide, doc)
    return doc


def changed_guides(base: Retriever, guides: Iterable[Guide]) -> list[str]:
    """Names of the guides whose searchable text is not what the base index holds (new ones included)."""
    info = _base_of(base)
    return [g.name for g in guides
            if g.name not in info.position or info.digests.get(g.name) != _doc(g).digest]


def derive(base: Retriever, guides: list[Guide], *, label: str = "live") -> Retriever:
    """A Retriever over exactly `guides`, built from `base`: only guides whose searchable text differs from
    the base are tokenised and embedded again; guides missing from `guides` are dropped."""
    info = _base_of(base)
    docs: dict[str, SearchDoc] = {g.name: _doc(g) for g in guides}
    order = [n for n in base.names if n in docs] + [n for n in docs if n not in info.position]
    changed = {n for n in order if n not in info.position or info.digests.get(n) != docs[n].digest}
    if changed:
        add_vocabulary(dictionary_words(guides))   # before tokenising, as the index build does
    tokens = {group: [lexical_tokens(docs[n], group) if n in changed else info.tokens[group][info.position[n]]
                      for n in order] for group in LEXICAL_GROUPS}

    derived = Retriever.__new__(Retriever)
    derived.index_dir = base.index_dir
    derived.version = f"{base.version}+{label}"
    derived.manifest = {**base.manifest, "version": derived.version, "guides": len(order), "derived_from": base.version}
    derived.scoring = base.scoring
    derived.names = order
    derived.bm25 = {group: BM25(rows) for group, rows in tokens.items()}
    derived.encoder = None
    derived.dense_index = None
    derived.owner = None
    derived.passage_texts = []
    if base.encoder is not None and info.matrix is not None:
        import faiss

        cache_dir = base.index_dir / "cache" / base.encoder.key
        blocks, owners, texts = [], [], []
        for i, name in enumerate(order):
            if name in changed:
                passages = dense_passages(docs[name])
                block = _passage_vectors(base.encoder, passages, cache_dir)
            else:
                rows = info.rows[info.position[name]]
                passages = [info.texts[r] for r in rows]
                block = info.matrix[rows]
            blocks.append(block)
            owners.extend([i] * len(passages))
            texts.extend(passages)
        matrix = np.ascontiguousarray(np.vstack(blocks), dtype=np.float32)
        index = faiss.IndexFlatIP(int(matrix.shape[1]))
        index.add(matrix)
        derived.encoder = base.encoder
        derived.dense_index = index
        derived.owner = np.asarray(owners, dtype=np.int64)
        derived.passage_texts = texts
    return derived


def best_passages(retriever: Retriever, query: str, names: Iterable[str]) -> dict[str, dict]:
    """For hit-testing: the passage of each named guide closest to the query, with its cosine similarity."""
    from nlu.textnorm import normalize

    out: dict[str, dict] = {}
    if retriever.encoder is None or retriever.dense_index is None:
        return out
    texts = getattr(retriever, "passage_texts", None)
    if not texts:
        texts = _base_of(retriever).texts
    vector = retriever.encoder.query(normalize(query))
    for name in names:
        if name not in retriever.names:
            continue
        rows = np.nonzero(retriever.owner == retriever.names.index(name))[0]
        if not len(rows):
            continue
        sims = [float(np.dot(retriever.dense_index.reconstruct(int(r)), vector)) for r in rows]
        best = int(np.argmax(sims))
        out[name] = {"passage": texts[int(rows[best])], "similarity": round(sims[best], 4)}
    return out


# -- the process-wide live set --------------------------------------------------------------------------------
class LiveGuides:
    """Polls a GuideSource and keeps this process's Catalog and Retriever in step with it."""

    def __init__(self, source: GuideSource, poll_seconds: float = 1.0) -> None:
        self.source = source
        self.poll_seconds = poll_seconds
        self.catalog: Catalog | None = None
        self.retriever: Retriever | None = None
        self.revision: str | None = None
        self.last_refresh: dict = {}
        self._key: tuple | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """One poll: True when the catalog or retriever was replaced."""
        with self._lock:
            revision = self.source.revision()
            try:
                base = _file_retriever()
            except FileNotFoundError:
                base = None               # no index built yet: the catalog still follows the source
            key = (revision, base.version if base is not None else None)
            if key == self._key:
                return False
            started = time.perf_counter()
            guides = self.source.published()
            if not guides:                # an empty store never hides the guides (seed not run yet)
                self._key = key
                return False
            # the catalog first: answers (materials, places, forms) change at once, the index a moment later
            self.catalog = Catalog(guides)
            retriever = None
            changed: list[str] = []
            if base is not None:
                changed = changed_guides(base, guides)
                retriever = derive(base, guides, label=revision) if changed or len(guides) != len(base.names) \
                    else base
            self.retriever, self.revision, self._key = retriever, revision, key
            self.last_refresh = {"revision": revision, "guides": len(guides), "reindexed": changed,
                                 "seconds": round(time.perf_counter() - started, 3)}
            log.info("live guides: revision %s, %d guides, re-indexed %s in %.2fs", revision, len(guides),
                     changed or "none", self.last_refresh["seconds"])
            return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="live-guides", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the poller; keep serving
                log.exception("live guides: refresh failed; still serving revision %s", self.revision)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


_live: LiveGuides | None = None
_live_lock = threading.Lock()


def _file_retriever() -> Retriever:
    """The built index once this process has loaded it (warm_up or a first search): following the store never
    loads the model by itself, and the first poll after the load derives the live index."""
    from knowledge.retrieval import loaded_file_retriever

    found = loaded_file_retriever()
    if found is None:
        raise FileNotFoundError("the built index is not loaded in this process yet")
    return found


def install(source: GuideSource, *, poll_seconds: float = 1.0, start: bool = True) -> LiveGuides:
    """Serve `source`'s published guides in this process (first refresh now, then a poller thread)."""
    global _live
    with _live_lock:
        if _live is not None:
            _live.stop()
        live = LiveGuides(source, poll_seconds=poll_seconds)
        try:
            live.refresh()
        except Exception:  # noqa: BLE001 - start anyway on the files; the poller retries
            log.exception("live guides: first refresh failed; serving the guide files until it works")
        if start:
            live.start()
        _live = live
        return live


def uninstall() -> None:
    global _live
    with _live_lock:
        if _live is not None:
            _live.stop()
        _live = None


def current() -> LiveGuides | None:
    return _live


def live_catalog() -> Catalog | None:
    live = _live
    return live.catalog if live is not None else None


def live_retriever() -> Retriever | None:
    live = _live
    return live.retriever if live is not None else None
