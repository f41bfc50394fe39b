"""Train the ticket classifier (core/tickets/classifier.py) and write it to core/tickets/model/.

    .venv/app/bin/python scripts/train_tickets.py [--data ../shared/data] [--out core/tickets/model]

Inputs (never committed): ../shared/data/tickets_train_raw.tsv (text = "title body", level1) and
tickets_train_tokens.tsv (jieba tokens, stop words removed, level1; mostly the same appeals again plus
about 4,900 others), and the committed core/tickets/data/examples.yaml (appeals written for this project,
the only evidence for the 8 level-1 categories without real rows) and taxonomy.csv.

Duplicates: a tokens row and a raw row are the same appeal when most of the tokens row's character
bigrams occur in the raw row (containment >= DUP_CONTAINMENT); near-identical appeals are grouped the
same way. Groups never straddle a split, so no held-out appeal leaks into training in another form.

Training rows: the real appeals (raw and tokens), the title of each again as a short appeal (callers in
chat write about as much as a title), the written examples (weighted up for the 8 categories they alone
cover) and one row per taxonomy row (its level-2 and level-3 names).

The model (settings: Params, chosen by 5-fold cross-validation over duplicate groups, bench/tickets_classify.py):
- a linear SVM on character 1-3-gram TF-IDF of the text reduced to its Chinese characters, title n-grams
  as separate, weighted features; a term enters the vocabulary only if it occurs in at least 3 distinct
  appeals (so no name or other string of a single appeal is in the committed model);
- a multinomial logistic regression on e5 vectors (multilingual-e5-small, ONNX int8: the first 128
  tokens pooled with the next 128, and the title);
- their outputs combined: each calibrated alone (temperature), mixed in the proportion that maximises
  out-of-fold raw-appeal accuracy (+ a little weight on the written examples of the 8 categories without
  real appeals), and the mixture calibrated again, so `confidence` is a probability.
Level 2 and 3 are chosen at run time by similarity to references (taxonomy names + written examples); the
weight of the name overlap is chosen by leave-one-out over the written examples.

e5 vectors are cached in build/tickets/ by encoder and text hash. Written: model.json (settings, classes,
provenance, combination weights, reference paths and names) and weights.npz (numpy arrays only: n-gram
vocabulary, idf, coefficients, reference vectors; no appeal text). The saved model is loaded back the way the
service loads it and must give the training-side probabilities.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.tickets import features  # noqa: E402
from core.tickets.examples import load_examples  # noqa: E402
from core.tickets.taxonomy import load_taxonomy  # noqa: E402

DATA_DIR = Path(os.environ.get("TICKETS_DATA_DIR", str(ROOT.parent / "shared" / "data")))
RAW_FILE = "tickets_train_raw.tsv"
TOKENS_FILE = "tickets_train_tokens.tsv"
MODEL_DIR = ROOT / "core" / "tickets" / "model"
CACHE_DIR = ROOT / "build" / "tickets"
E5_DIR = ROOT / "build" / "models" / "e5-onnx"
SEED = 12345
HELDOUT_FRACTION = 0.2
DUP_CONTAINMENT = 0.6   # share of one appeal's character bigrams found in the other
DUP_CANDIDATE_COSINE = 0.25

csv.field_size_limit(1 << 30)


def log(message: str) -> None:
    print(f"[train_tickets] {message}", file=sys.stderr, flush=True)


# -- data -----------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    text: str
    level1: str
    source: str                 # raw | tokens | title | example | name
    level2: str | None = None
    level3: str | None = None
    group: int = -1             # duplicate group (rows of one group stay on one side of every split)
    bigrams: set = field(default_factory=set, repr=False)


def _bigrams(han: str) -> set[str]:
    return {han[i:i + 2] for i in range(len(han) - 1)}


def read_tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def load_real_rows(data_dir: Path = DATA_DIR) -> list[Row]:
    """Raw rows, then tokens rows (tokens joined without spaces); exact repeats dropped."""
    taxonomy = load_taxonomy()
    rows: list[Row] = []
    seen: set[str] = set()
    for record in read_tsv(data_dir / RAW_FILE):
        text, level1 = (record.get("text") or "").strip(), (record.get("level1") or "").strip()
        if not text or not taxonomy.contains(level1) or text in seen:
            continue
        seen.add(text)
        rows.append(Row(text, level1, "raw", bigrams=_bigrams(features.han_only(text))))
    for record in read_tsv(data_dir / TOKENS_FILE):
        tokens, level1 = (record.get("tokens") or "").split(), (record.get("level1") or "").strip()
        text = "".join(tokens)
        if not text or not taxonomy.contains(level1) or text in seen:
            continue
        seen.add(text)
        grams: set[str] = set()
        for token in tokens:          # bigrams inside tokens only: removed stop words leave no false bigrams
            grams |= _bigrams(features.han_only(token))
        rows.append(Row(text, level1, "tokens", bigrams=grams))
    return rows


def group_duplicates(rows: list[Row]) -> int:
    """Union rows that are the same appeal (bigram containment); sets Row.group, returns the group count."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    vectorizer = TfidfVectorizer(analyzer=lambda grams: list(grams), sublinear_tf=True)
    matrix = vectorizer.fit_transform([row.bigrams for row in rows]).astype(np.float32)
    transposed = matrix.T.tocsr()
    for start in range(0, len(rows), 1000):
        sims = (matrix[start:start + 1000] @ transposed).toarray()
        for offset, line in enumerate(sims):
            i = start + offset
            for j in np.nonzero(line >= DUP_CANDIDATE_COSINE)[0]:
                if j <= i:
                    continue
                a, b = rows[i].bigrams, rows[j].bigrams
                if len(a & b) / max(1, min(len(a), len(b))) >= DUP_CONTAINMENT:
                    parent[find(i)] = find(j)
    roots: dict[int, int] = {}
    for i, row in enumerate(rows):
        row.group = roots.setdefault(find(i), len(roots))
    return len(roots)


def heldout_split(rows: list[Row], fraction: float = HELDOUT_FRACTION, seed: int = SEED) -> tuple[list[int], list[int]]:
    """(training indices, held-out indices). Held out: a seeded, stratified `fraction` of the raw rows;
    training: every row whose duplicate group holds no held-out row (so the tokens copy of a held-out
    appeal is excluded too)."""
    rng = np.random.default_rng(seed)
    raw_by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if row.source == "raw":
            raw_by_label.setdefault(row.level1, []).append(i)
    heldout: list[int] = []
    for label in sorted(raw_by_label):
        members = sorted(raw_by_label[label])
        rng.shuffle(members)
        heldout.extend(members[:round(len(members) * fraction)])
    held_groups = {rows[i].group for i in heldout}
    training = [i for i, row in enumerate(rows) if row.group not in held_groups]
    return training, sorted(heldout)


def example_rows() -> list[Row]:
    """The committed written examples (core/tickets/data/examples.yaml) as rows."""
    return [Row(e.text, e.level1, "example", e.level2, e.level3) for e in load_examples()]


def title_rows(real: list[Row]) -> list[Row]:
    """The title of each real appeal as a short appeal of its own (callers in chat write one or two
    sentences, much like a title); one per distinct title, in its appeal's duplicate group."""
    rows, seen = [], set()
    for r in real:
        title = features.split_head(r.text)[0]
        if len(features.han_only(title)) >= 4 and title not in seen:
            seen.add(title)
            rows.append(Row(title, r.level1, "title", group=r.group))
    return rows


def name_rows() -> list[Row]:
    """One row per taxonomy row: its level-2 and level-3 names (其他 left out)."""
    rows = []
    for c in load_taxonomy().rows:
        text = "".join(n for n in (c.level2, c.level3) if n != "其他")
        if text:
            rows.append(Row(text, c.level1, "name", c.level2, c.level3))
    return rows


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- e5 vectors, cached by content hash -----------------------------------------------------------------------------
class E5Cache:
    """e5 vectors of texts, cached under build/tickets by (encoder sha256, kind, text sha1)."""

    def __init__(self, model_dir: Path = E5_DIR, cache_dir: Path = CACHE_DIR, threads: int = 2):
        from nlu.components.e5_onnx import E5Encoder

        self.encoder = E5Encoder(model_dir, threads=threads, max_length=features.E5_WINDOW_TOKENS)
        self.model_sha = self.encoder.info.get("model_sha256", "unknown")
        self.cache_dir = cache_dir
        cache_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, kind: str) -> Path:
        return self.cache_dir / f"e5-{self.model_sha[:12]}-{kind}.npz"

    def vectors(self, texts: list[str], kind: str, save_every: int = 512) -> np.ndarray:
        path = self._path(kind)
        store: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                store = dict(zip(data["keys"].tolist(), data["vectors"]))
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in store}.items(), key=lambda kv: len(kv[1]))
        if missing:
            log(f"e5 {kind}: encoding {len(missing)} texts ({len(texts) - len(missing)} cached)")
        started = time.perf_counter()
        for start in range(0, len(missing), save_every):
            part = missing[start:start + save_every]
            for (key, _), vector in zip(part, self.encoder.encode([t for _, t in part])):
                store[key] = vector
            self._save(path, store)
            done = start + len(part)
            rate = (time.perf_counter() - started) / done
            log(f"e5 {kind}: {done}/{len(missing)} ({rate * 1000:.0f} ms/text)")
        return np.stack([store[k] for k in keys]).astype(np.float32)

    @staticmethod
    def _save(path: Path, store: dict[str, np.ndarray]) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(store)), vectors=np.stack(list(store.values())))
        os.replace(tmp, path)


# -- features of a row set ------------------------------------------------------------------------------------------
def e5_features(rows: list[Row], cache: E5Cache, second: bool = True, head: bool = True) -> np.ndarray:
    """[first window (mean with the second window when there is one), head] per row, as the classifier builds it."""
    full = cache.vectors([features.clean(r.text) for r in rows], "full")
    parts = [full]
    if second:
        seconds = [features.second_chunk(r.text, cache.encoder.tokenizer) for r in rows]
        present = [i for i, s in enumerate(seconds) if s]
        if present:
            vectors = cache.vectors([seconds[i] for i in present], "second")
            merged = full.copy()
            merged[present] = features.pool_windows(full[present], vectors)
            parts = [merged]
    if head:
        parts.append(cache.vectors([features.split_head(r.text)[0] for r in rows], "head"))
    return np.hstack(parts).astype(np.float32)


@dataclass
class Params:
    """Settings of the level-1 model (chosen by 5-fold cross-validation on the training part)."""
    tfidf_kind: str = "svm"     # svm: linear SVM margins (scaled in the combination); lr: logistic regression
    tfidf_c: float = 1.0
    head_weight: float = 1.5
    min_appeals: int = 3        # a term must occur in this many distinct appeals to enter the vocabulary
    max_features: int = 120_000
    e5_c: float = 10.0
    example_weight: float = 2.0     # written examples of the categories with real appeals
    synthetic_weight: float = 30.0  # written examples of the categories without real appeals
    names_weight: float = 5.0       # one row per taxonomy row: its level-2 and level-3 names
    title_weight: float = 1.0       # the title of each real appeal again as a short appeal of its own (0: off)
    second: bool = True
    head: bool = True


class Counts:
    """Character n-gram counts (features.analyze) of rows, computed once and sliced per fold. Terms seen in
    fewer than two texts overall are dropped at once (no fold could keep them). `groups` (the duplicate
    group of each row) lets the vocabulary count distinct appeals rather than rows."""

    def __init__(self, rows: list[Row]):
        from sklearn.feature_extraction.text import CountVectorizer

        vectorizer = CountVectorizer(analyzer=features.analyze, min_df=2, dtype=np.float32)
        self.matrix = vectorizer.fit_transform([r.text for r in rows]).tocsr()
        self.terms = vectorizer.get_feature_names_out()
        self.head = np.char.startswith(self.terms.astype(str), "h:")
        # rows without a duplicate group (examples, names) are each their own appeal
        self.groups = np.array([r.group if r.group >= 0 else -1 - i for i, r in enumerate(rows)])

    def rows(self, index) -> "Counts":
        part = object.__new__(Counts)
        part.matrix, part.terms, part.head, part.groups = self.matrix[index], self.terms, self.head, self.groups[index]
        return part

    def appeal_frequency(self) -> np.ndarray:
        """In how many distinct appeals (duplicate groups) each term occurs."""
        from scipy import sparse

        _, group_index = np.unique(self.groups, return_inverse=True)
        membership = sparse.csr_matrix((np.ones(len(group_index), dtype=np.float32),
                                        (group_index, np.arange(len(group_index)))))
        return np.asarray(((membership @ (self.matrix > 0).astype(np.float32)) > 0).sum(axis=0)).ravel()


def counts_of(texts: list[str], vocabulary: list[str]):
    """Counts of new texts over a fixed vocabulary (what serving computes, for checks)."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(analyzer=features.analyze, vocabulary=vocabulary, dtype=np.float32).transform(texts)


def fit_vocabulary(counts: Counts, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """(column indices into counts.terms, idf) of the terms kept: occurring in at least min_appeals distinct
    appeals (so no string of one appeal, such as a name, can enter the committed vocabulary), the
    max_features most frequent of them; idf as scikit-learn's smooth idf over rows."""
    df = np.asarray((counts.matrix > 0).sum(axis=0)).ravel()
    keep = np.nonzero(counts.appeal_frequency() >= params.min_appeals)[0]
    if len(keep) > params.max_features:
        keep = keep[np.argsort(-df[keep], kind="stable")[:params.max_features]]
        keep.sort()
    n = counts.matrix.shape[0]
    idf = (np.log((1.0 + n) / (1.0 + df[keep])) + 1.0).astype(np.float32)
    return keep, idf


def tfidf_rows(count_matrix, idf: np.ndarray, head: np.ndarray, head_weight: float):
    """TF-IDF exactly as features.SparseTfidf computes it: 1 + log(count), times idf (head terms times
    head_weight), L2-normalised rows."""
    from scipy import sparse
    from sklearn.preprocessing import normalize

    matrix = count_matrix.astype(np.float32, copy=True).tocsr()
    matrix.data = 1.0 + np.log(matrix.data)
    scale = idf * np.where(head, head_weight, 1.0).astype(np.float32)
    return normalize(matrix @ sparse.diags(scale), norm="l2", copy=False).tocsr().astype(np.float32)


def fit_lr(matrix, labels: list[str], weights: np.ndarray, c: float, classes: list[str], kind: str = "lr"):
    """(coef, intercept) in `classes` order: multinomial logistic regression, or a one-vs-rest linear SVM."""
    if kind == "svm":
        from sklearn.svm import LinearSVC

        model = LinearSVC(C=c, max_iter=5000)
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=3000, tol=1e-4)
    model.fit(matrix, labels, sample_weight=weights)
    order = [list(model.classes_).index(k) for k in classes if k in model.classes_]
    if len(order) != len(classes):
        missing = sorted(set(classes) - set(model.classes_))
        raise SystemExit(f"train_tickets: no training rows for {missing}")
    return model.coef_[order].astype(np.float32), model.intercept_[order].astype(np.float32)


def log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def fit_combination(logp_tfidf: np.ndarray, logp_e5: np.ndarray | None, y: np.ndarray) -> tuple[float, float]:
    """Weights (a, b) of softmax(a * log p_tfidf + b * log p_e5) minimising the log-loss on out-of-fold
    predictions; with b = 0 this is temperature scaling of the TF-IDF model alone."""
    from scipy.optimize import minimize

    def loss(w):
        z = w[0] * logp_tfidf + (w[1] * logp_e5 if logp_e5 is not None else 0.0)
        return -log_softmax(z)[np.arange(len(y)), y].mean()

    start = [0.5, 0.5] if logp_e5 is not None else [1.0, 0.0]
    bounds = [(0.01, 10.0), (0.0, 10.0) if logp_e5 is not None else (0.0, 0.0)]
    found = minimize(loss, start, bounds=bounds, method="L-BFGS-B")
    return float(found.x[0]), float(found.x[1])


@dataclass
class Level1Model:
    classes: list[str]
    vocabulary: list[str]
    idf: np.ndarray
    head: np.ndarray            # which vocabulary terms are title terms
    tfidf_coef: np.ndarray
    tfidf_intercept: np.ndarray
    e5_coef: np.ndarray | None
    e5_intercept: np.ndarray | None
    params: Params
    columns: np.ndarray         # the vocabulary's columns in the Counts it was fitted on

    def logp_tfidf(self, count_matrix) -> np.ndarray:
        """Log-probabilities (lr) or margins (svm) of the TF-IDF model, from counts over self.vocabulary."""
        matrix = tfidf_rows(count_matrix, self.idf, self.head, self.params.head_weight)
        scores = np.asarray(matrix @ self.tfidf_coef.T) + self.tfidf_intercept
        return log_softmax(scores) if self.params.tfidf_kind == "lr" else scores

    def logp_tfidf_texts(self, texts: list[str]) -> np.ndarray:
        return self.logp_tfidf(counts_of(texts, self.vocabulary))

    def logp_e5(self, vectors: np.ndarray) -> np.ndarray:
        return log_softmax(vectors @ self.e5_coef.T + self.e5_intercept)


def row_weights(rows: list[Row], params: Params) -> np.ndarray:
    real = {r.level1 for r in rows if r.source in ("raw", "tokens")}
    weights = []
    for r in rows:
        if r.source == "example":
            weights.append(params.example_weight if r.level1 in real else params.synthetic_weight)
        elif r.source == "name":
            weights.append(params.names_weight)
        elif r.source == "title":
            weights.append(params.title_weight)
        else:
            weights.append(1.0)
    return np.array(weights, dtype=np.float32)


def fit_level1(rows: list[Row], counts: Counts, e5: np.ndarray | None, params: Params,
               classes: list[str]) -> Level1Model:
    """Both models of level 1 on these rows (counts and e5: their rows, e5 None for TF-IDF alone)."""
    labels = [r.level1 for r in rows]
    weights = row_weights(rows, params)
    columns, idf = fit_vocabulary(counts, params)
    head = counts.head[columns]
    matrix = tfidf_rows(counts.matrix[:, columns], idf, head, params.head_weight)
    coef, intercept = fit_lr(matrix, labels, weights, params.tfidf_c, classes, params.tfidf_kind)
    e5_coef = e5_intercept = None
    if e5 is not None:
        e5_coef, e5_intercept = fit_lr(e5, labels, weights, params.e5_c, classes)
    return Level1Model(classes, counts.terms[columns].tolist(), idf, head, coef, intercept, e5_coef, e5_intercept,
                       params, columns)


def fold_ids(rows: list[Row], folds: int = 5, seed: int = SEED) -> np.ndarray:
    """Fold of each row: real rows by StratifiedGroupKFold over duplicate groups, examples round-robin per
    level-1 category (so every fold holds some written examples of every category); taxonomy-name rows -1
    (in every training fold, never evaluated)."""
    from sklearn.model_selection import StratifiedGroupKFold

    ids = np.full(len(rows), -1, dtype=np.int64)
    real = [i for i, r in enumerate(rows) if r.source in ("raw", "tokens", "title")]
    if real:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        labels = [rows[i].level1 for i in real]
        groups = [rows[i].group for i in real]
        for fold, (_, test) in enumerate(splitter.split(real, labels, groups)):
            ids[np.array(real)[test]] = fold
    counters: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r.source == "example":
            n = counters.get(r.level1, seed % folds)
            ids[i] = n % folds
            counters[r.level1] = n + 1
    return ids


def out_of_fold(rows: list[Row], counts: Counts, e5: np.ndarray | None, params: Params, classes: list[str],
                folds: int = 5) -> tuple[np.ndarray, np.ndarray | None]:
    """Out-of-fold log-probabilities (margins for the SVM) of both models for every row, each predicted by a
    model that never saw it nor any row of its duplicate group."""
    ids = fold_ids(rows, folds)
    logp_t = np.zeros((len(rows), len(classes)), dtype=np.float32)
    logp_e = np.zeros_like(logp_t) if e5 is not None else None
    for fold in range(folds):
        train = np.nonzero(ids != fold)[0]
        test = np.nonzero(ids == fold)[0]
        started = time.perf_counter()
        model = fit_level1([rows[i] for i in train], counts.rows(train), e5[train] if e5 is not None else None,
                           params, classes)
        logp_t[test] = model.logp_tfidf(counts.matrix[test][:, model.columns])
        if e5 is not None:
            logp_e[test] = model.logp_e5(e5[test])
        log(f"fold {fold + 1}/{folds}: {len(train)} training rows, {time.perf_counter() - started:.0f}s")
    return logp_t, logp_e


@dataclass
class References:
    paths: list[tuple[str, str, str]]   # (level1, level2, level3 or "")
    texts: list[str]                    # what is embedded
    names: list[str]                    # what the lexical overlap is computed on ("" for examples)


def build_references() -> References:
    """One reference per taxonomy row (its level-2 and level-3 names) and per written example.
    The catch-all 其他/其他 rows get none (chosen only when nothing else fits)."""
    taxonomy = load_taxonomy()
    paths, texts, names = [], [], []
    for row in taxonomy.rows:
        if row.level2 == "其他":
            continue
        if row.level3 == "其他":
            paths.append((row.level1, row.level2, ""))
            texts.append(row.level2)
            names.append(row.level2)
        else:
            paths.append((row.level1, row.level2, row.level3))
            texts.append(f"{row.level2}：{row.level3}")
            names.append(row.level3)
    for example in load_examples():
        paths.append((example.level1, example.level2, example.level3 or ""))
        texts.append(example.text)
        names.append("")
    return References(paths, texts, names)


def choose_lexical_weight(refs: References, vectors: np.ndarray, grid=(0.0, 0.1, 0.2, 0.3, 0.5, 0.8)) -> tuple[float, dict]:
    """Leave-one-out over the written examples: level-2 (and level-3) accuracy within the true level-1 for
    each weight of the name overlap; the best weight is kept. Returns (weight, {weight: (acc2, acc3)})."""
    name_grams = [features.han_bigrams(n) for n in refs.names]
    examples = [i for i, n in enumerate(refs.names) if n == ""]
    results = {}
    for weight in grid:
        right2 = right3 = total3 = 0
        for i in examples:
            level1, level2, level3 = refs.paths[i]
            grams = features.han_bigrams(refs.texts[i])
            candidates = [j for j, p in enumerate(refs.paths) if p[0] == level1 and j != i]
            scores = {}
            for j in candidates:
                lexical = len(name_grams[j] & grams) / max(1, len(name_grams[j]))
                scores[j] = float(vectors[j] @ vectors[i]) + weight * lexical
            best2: dict[str, float] = {}
            for j, s in scores.items():
                best2[refs.paths[j][1]] = max(best2.get(refs.paths[j][1], -1e9), s)
            chosen2 = max(best2, key=best2.get)
            right2 += chosen2 == level2
            if level3:
                total3 += 1
                best3: dict[str, float] = {}
                for j, s in scores.items():
                    if refs.paths[j][1] == level2 and refs.paths[j][2]:
                        best3[refs.paths[j][2]] = max(best3.get(refs.paths[j][2], -1e9), s)
                right3 += bool(best3) and max(best3, key=best3.get) == level3
        results[weight] = (right2 / len(examples), right3 / max(1, total3))
        log(f"lexical weight {weight}: level-2 {results[weight][0]:.3f}, level-3 (given level-2) "
            f"{results[weight][1]:.3f} (leave-one-out over {len(examples)} written examples)")
    best = max(grid, key=lambda w: (results[w][0], results[w][1], -w))
    return best, results


# -- the whole model -------------------------------------------------------------------------------------------------
MIX_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
SYNTHETIC_BONUS = 0.1   # how much the written-example accuracy of the categories without real appeals counts


def calibrate(rows: list[Row], logp_t: np.ndarray, logp_e: np.ndarray | None, classes: list[str]) -> dict:
    """How to combine the two models, from out-of-fold predictions:
    1. a temperature for each model alone (log-loss over the raw appeals and the written examples);
    2. the mix m of their calibrated log-probabilities maximising raw-appeal accuracy
       + SYNTHETIC_BONUS x accuracy on the written examples of the categories without real appeals;
    3. a final temperature of the mixture, so that `confidence` is calibrated.
    Returns {"tfidf", "e5"} weights of softmax(tfidf * logp_t + e5 * logp_e), "tfidf_alone", and the grid."""
    use = np.array([r.source in ("raw", "example") for r in rows])
    y_all = np.array([classes.index(r.level1) for r in rows])
    y = y_all[use]
    alone, _ = fit_combination(logp_t[use], None, y)
    if logp_e is None:
        return {"tfidf": alone, "e5": 0.0, "tfidf_alone": alone, "mix": 0.0, "grid": {}}
    temp_e, _ = fit_combination(logp_e[use], None, y)
    calibrated_t, calibrated_e = log_softmax(alone * logp_t), log_softmax(temp_e * logp_e)
    raw = np.array([r.source == "raw" for r in rows])
    real = {r.level1 for r in rows if r.source in ("raw", "tokens")}
    synthetic = np.array([r.source == "example" and r.level1 not in real for r in rows])
    grid = {}
    for mix in MIX_GRID:
        pred = ((1 - mix) * calibrated_t + mix * calibrated_e).argmax(axis=1)
        raw_acc = float((pred == y_all)[raw].mean()) if raw.any() else 0.0
        syn_acc = float((pred == y_all)[synthetic].mean()) if synthetic.any() else 0.0
        grid[mix] = (raw_acc, syn_acc)
    mix = max(MIX_GRID, key=lambda m: (grid[m][0] + SYNTHETIC_BONUS * grid[m][1], -m))
    mixed = (1 - mix) * calibrated_t + mix * calibrated_e
    final, _ = fit_combination(mixed[use], None, y)
    for m, (r_acc, s_acc) in grid.items():
        log(f"mix {m}: raw-appeal accuracy {r_acc:.4f}, written examples without real appeals {s_acc:.3f}"
            + ("  <- chosen" if m == mix else ""))
    return {"tfidf": final * (1 - mix) * alone, "e5": final * mix * temp_e, "tfidf_alone": alone, "mix": mix,
            "grid": grid}


def train(real: list[Row], params: Params | None = None, folds: int = 5, cache: E5Cache | None = None) -> dict:
    """Fit the model on these real rows (duplicate groups set) plus the written examples and taxonomy names.
    Returns the model folder's content ("meta", "arrays") and, for the benchmark, "model", "rows", "e5",
    "oof" (out-of-fold predictions of both models) and "weights" (the combination chosen on them)."""
    params = params or Params()
    classes = load_taxonomy().level1s
    started = time.perf_counter()
    rows = real + (title_rows(real) if params.title_weight > 0 else []) + example_rows() + name_rows()
    counts_by_source = {s: sum(1 for r in rows if r.source == s) for s in ("raw", "tokens", "title", "example", "name")}
    log(f"training rows: {counts_by_source} ({len({r.group for r in real})} distinct appeals)")
    cache = cache or E5Cache()
    e5 = e5_features(rows, cache, second=params.second, head=params.head)
    counts = Counts(rows)
    logp_t, logp_e = out_of_fold(rows, counts, e5, params, classes, folds)
    weights = calibrate(rows, logp_t, logp_e, classes)
    model = fit_level1(rows, counts, e5, params, classes)
    refs = build_references()
    ref_vectors = cache.vectors(refs.texts, "full")
    lexical_weight, lexical_grid = choose_lexical_weight(refs, ref_vectors)
    meta = {
        "format": 1,
        "trained": time.strftime("%Y-%m-%d"),
        "classes": classes,
        "level1": {
            "tfidf_kind": params.tfidf_kind, "head_weight": params.head_weight, "second": params.second,
            "head": params.head,
            "combine": {"tfidf": round(weights["tfidf"], 6), "e5": round(weights["e5"], 6)},
            "tfidf_alone": round(weights["tfidf_alone"], 6),
            "mix": weights["mix"],
            "cv_mix_grid": {str(m): [round(a, 4), round(b, 4)] for m, (a, b) in weights["grid"].items()},
            "params": dict(params.__dict__),
        },
        "references": {"paths": refs.paths, "names": refs.names, "lexical_weight": lexical_weight,
                       "leave_one_out": {str(k): [round(a, 4), round(b, 4)] for k, (a, b) in lexical_grid.items()}},
        "e5": {"model_sha256": cache.model_sha, "window_tokens": features.E5_WINDOW_TOKENS},
        "data": {"rows": counts_by_source, "distinct_real_appeals": len({r.group for r in real}),
                 "examples_sha256": file_sha256(ROOT / "core" / "tickets" / "data" / "examples.yaml"),
                 "taxonomy_sha256": file_sha256(ROOT / "core" / "tickets" / "data" / "taxonomy.csv")},
        "training_seconds": round(time.perf_counter() - started),
    }
    arrays = {
        "vocabulary": np.array(model.vocabulary), "idf": model.idf.astype(np.float32),
        "tfidf_coef": model.tfidf_coef.astype(np.float16), "tfidf_intercept": model.tfidf_intercept,
        "e5_coef": model.e5_coef.astype(np.float32), "e5_intercept": model.e5_intercept,
        "ref_vectors": ref_vectors.astype(np.float16),
    }
    return {"meta": meta, "arrays": arrays, "model": model, "rows": rows, "e5": e5, "oof": (logp_t, logp_e),
            "weights": weights, "classes": classes}


def save(result: dict, out: Path = MODEL_DIR) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "weights.tmp.npz"
    np.savez_compressed(tmp, **result["arrays"])
    os.replace(tmp, out / "weights.npz")
    (out / "model.json").write_text(json.dumps(result["meta"], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def check_serving_matches(result: dict, out: Path, sample: int = 40) -> float:
    """The saved model, loaded the way the service loads it, must give the training-side probabilities."""
    from core.tickets.classifier import TicketClassifier

    classifier = TicketClassifier(out)
    rows, model = result["rows"], result["model"]
    meta = result["meta"]["level1"]
    rng = np.random.default_rng(SEED)
    picked = rng.choice(len(rows), size=min(sample, len(rows)), replace=False)
    worst = 0.0
    for i in picked:
        logp_t = model.logp_tfidf_texts([rows[i].text])[0]
        logp_e = model.logp_e5(result["e5"][i:i + 1])[0]
        expected = np.exp(log_softmax((meta["combine"]["tfidf"] * logp_t + meta["combine"]["e5"] * logp_e)[None])[0])
        got, _ = classifier.level1_probabilities(rows[i].text)
        worst = max(worst, float(np.abs(expected - got).max()))
    if worst > 0.02:
        raise SystemExit(f"train_tickets: the saved model differs from the trained one (max prob diff {worst:.4f})")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder with the two .tsv files")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    args = parser.parse_args(argv)
    for name in (RAW_FILE, TOKENS_FILE):
        if not (args.data / name).is_file():
            raise SystemExit(f"train_tickets: {args.data / name} not found (the training appeals are not in git)")
    real = load_real_rows(args.data)
    group_duplicates(real)
    result = train(real)
    result["meta"]["data"]["sources_sha256"] = {name: file_sha256(args.data / name) for name in (RAW_FILE, TOKENS_FILE)}
    save(result, args.out)
    worst = check_serving_matches(result, args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    log(f"wrote {args.out} ({size / 1e6:.1f} MB); serving matches training within {worst:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
