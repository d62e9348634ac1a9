"""An index generation as one file, for CI to build and replicas to serve (`kb index --export
FILE`, `kb serve --index FILE`).

The file is a tar (gzip-compressed when its name ends in .gz) of the generation's folder, the
model files its manifest names, and `kb-artifact.json`, which lists the sha256 and size of the
model files (the generation's own files are in its manifest already). Opening one unpacks it
once into a folder named after the file's sha256 under the cache, checks every file against
those checksums and the generation's manifest, and only then publishes it there; the index is
then served from that folder like any other (the model and format checks apply as always)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kb import store
from kb.errors import KBError

LISTING = "kb-artifact.json"
ARTIFACT_FORMAT = 1
MAX_MEMBERS = 64  # a generation has 14 files, a model two: anything far past that is not ours


class ArtifactError(KBError):
    code = "bad_artifact"
    status = 400


@dataclass(frozen=True)
class Exported:
    path: Path
    generation: str
    bytes: int


def export(index_dir: Path, out: Path) -> Exported:
    """Write the published generation of `index_dir` and its model files to `out`."""
    gen = store.Generation.current(index_dir)
    gen.verify()
    manifest = gen.manifest
    models = {str(manifest[key]) for key in ("onnx", "tokenizer") if manifest.get(key)}
    listing = {
        "artifact_format": ARTIFACT_FORMAT,
        "generation": gen.name,
        "models": {name: _digest(index_dir / name) for name in sorted(models)},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    mode = "w:gz" if out.name.endswith(".gz") else "w"
    with tarfile.open(tmp, mode, **({"compresslevel": 1} if mode == "w:gz" else {})) as tar:  # type: ignore[call-overload]
        data = (json.dumps(listing, indent=2, sort_keys=True) + "\n").encode()
        info = tarfile.TarInfo(LISTING)
        info.size = len(data)
        tar.addfile(info, _bytes_io(data))
        tar.add(gen.path, arcname=gen.name, recursive=True)
        for name in sorted(models):
            tar.add(index_dir / name, arcname=name)
    os.replace(tmp, out)
    return Exported(out, gen.name, out.stat().st_size)


def materialize(artifact: Path, cache: Path) -> Path:
    """The index folder holding `artifact`, unpacked and checked (once: later calls reuse it)."""
    if not artifact.is_file():
        raise ArtifactError(f"{artifact} is not an exported index file (`kb index --export FILE` writes one)")
    key = str(_digest(artifact)["sha256"])[:16]
    target = cache / "artifacts" / key
    if (target / store.POINTER).is_file():
        return target
    (cache / "artifacts").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache / "artifacts"))
    try:
        listing = _unpack(artifact, work)
        gen = store.Generation(work / listing["generation"])
        gen.verify()
        for name, want in listing["models"].items():
            if _digest(work / name) != want:
                raise ArtifactError(f"{artifact.name}: {name} is damaged (its checksum differs from the listing's)")
        (work / store.POINTER).write_text(gen.name + "\n")
        gen.close()
        try:
            os.rename(work, target)
        except OSError:  # another process unpacked it first
            if not (target / store.POINTER).is_file():
                raise
    except KBError:
        raise
    except (OSError, tarfile.TarError, KeyError, ValueError, TypeError) as e:
        raise ArtifactError(f"{artifact.name} is not a readable exported index ({e})") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _unpack(artifact: Path, into: Path) -> dict[str, Any]:
    """Extract only what an artifact holds (its listing, one generation folder, the model files
    it lists), refusing anything else: links, absolute paths, `..`, unknown names."""
    try:
        tar = tarfile.open(artifact, "r:*")
    except tarfile.TarError as e:
        raise ArtifactError(f"{artifact.name} is not an exported index (not a tar file: {e})") from None
    with tar:
        members = tar.getmembers()
        if len(members) > MAX_MEMBERS:
            raise ArtifactError(f"{artifact.name} holds {len(members)} files: not an exported index")
        names = {m.name: m for m in members}
        if LISTING not in names:
            raise ArtifactError(f"{artifact.name} has no {LISTING}: not an exported index")
        raw = tar.extractfile(names[LISTING])
        listing = json.loads(raw.read(1 << 20).decode() if raw else "{}")
        if listing.get("artifact_format") != ARTIFACT_FORMAT:
            raise ArtifactError(
                f"{artifact.name} is artifact format {listing.get('artifact_format')!r}; "
                f"this kb reads {ARTIFACT_FORMAT}"
            )
        gen_name, models = str(listing.get("generation", "")), dict(listing.get("models", {}))
        allowed = {gen_name, *models, LISTING}
        allowed |= {f"{gen_name}/{f}" for f in store.Generation.FILES.values()}
        for m in members:
            path = PurePosixPath(m.name)
            if m.name not in allowed or path.is_absolute() or ".." in path.parts or not (m.isfile() or m.isdir()):
                raise ArtifactError(f"{artifact.name} holds {m.name!r}, which no exported index has")
        if not gen_name.startswith("gen-") or gen_name not in names:
            raise ArtifactError(f"{artifact.name} names generation {gen_name!r} but does not hold it")
        tar.extractall(into, filter="data")
    return listing


def _digest(path: Path) -> dict[str, object]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"sha256": h.hexdigest(), "bytes": path.stat().st_size}


def _bytes_io(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
