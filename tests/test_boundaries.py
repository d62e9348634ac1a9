"""Dependency direction and the torch-free query path."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

KB = Path(__file__).resolve().parents[1] / "kb"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_never_imports_the_cli_or_the_web_layer():
    for path in KB.glob("*.py"):
        if path.name in ("cli.py", "cli_authoring.py"):  # the command line is click's
            continue
        bad = {
            n
            for n in _imports(path)
            if n.split(".")[0] in ("click", "flask", "waitress") or n.startswith(("kb.cli", "kb.web"))
        }
        assert not bad, f"{path.name} imports {bad}"


def test_search_never_imports_torch(built_index):
    code = (
        "import sys; from kb.core import KnowledgeBase; from kb.config import Settings; from pathlib import Path;"
        f"kb = KnowledgeBase(Settings(index=Path({str(built_index)!r})));"
        "r = kb.search('No space left on device');"
        "assert r.results;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_onnx_and_sentence_transformers_vectors_agree(built_index):
    import numpy as np

    from kb.config import Settings
    from kb.core import KnowledgeBase
    from kb.embedding import TorchEncoder, model_dir

    texts = ["FATAL: remaining connection slots are reserved", "disk full " * 80, "x509 expired"]
    idx = KnowledgeBase(Settings(index=built_index)).index()
    onnx = idx.encoder.encode(texts)
    torch_vecs = TorchEncoder(model_dir()).encode(texts, progress=False)
    cos = (onnx * torch_vecs).sum(axis=1)
    assert np.all(cos > 0.9999), cos
