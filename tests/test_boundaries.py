"""Dependency direction, no import cycles, modules that import on their own, and the torch-free
query path."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

KB = Path(__file__).resolve().parents[1] / "kb"


def _module(path: Path) -> str:
    parts = path.relative_to(KB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(KB.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            subs = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
            names |= subs
            if len(subs) < len(node.names):  # names from the module itself, not only its submodules
                names.add(node.module)
    return names


def test_core_never_imports_the_cli_or_the_web_layer():
    for name, path in MODULES.items():
        if name.startswith(("kb.cli", "kb.web")):
            continue
        bad = {
            n
            for n in _imports(path)
            if n.split(".")[0] in ("click", "flask", "waitress") or n.startswith(("kb.cli", "kb.web"))
        }
        assert not bad, f"{name} imports {bad}"


def test_no_import_cycle_inside_kb():
    graph = {name: {n for n in _imports(path) if n in MODULES and n != name} for name, path in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_every_module_imports_on_its_own():
    """In a fresh interpreter each (a partly initialised module shows only there)."""

    def load(name: str) -> tuple[str, str]:
        out = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
        return name, out.stderr if out.returncode else ""

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        failures = {name: err for name, err in pool.map(load, MODULES) if err}
    assert not failures, failures


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
    onnx = idx.dense.encoder.encode(texts)
    torch_vecs = TorchEncoder(model_dir()).encode(texts, progress=False)
    cos = (onnx * torch_vecs).sum(axis=1)
    assert np.all(cos > 0.9999), cos
