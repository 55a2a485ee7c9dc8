"""The PyTorch reference (reference.py) kept on disk beside the exports it gates, computed once per
checkpoint, shipped data and library versions, and read back by every later gate.

Every gate measured against it (fp32, int8, the OpenVINO variants) used to recompute it: about a
minute of PyTorch on a quiet 2-core machine (150 s measured under load), three times in a `make test`
from nothing. Gates that run at once (make test's set-up builds the ONNX and OpenVINO exports side by
side) wait on a file lock, so the second reads what the first computed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np

from ..checkpoint import checkpoint_hash
from .reference import ANSWER_TOKENS, DATA, GREEDY_TOKENS, WINDOW, Reference

DATA_FILES = ("prompts.json", "heldout.txt", "questions.json")  # what Reference.compute reads
LIBRARIES = ("torch", "transformers", "tokenizers")  # what computes it


def key(checkpoint_dir: Path) -> str:
    """Names what the reference depends on: the checkpoint's weights, the data, the token counts and
    the versions of the libraries that compute it."""
    digest = hashlib.sha256(checkpoint_hash(checkpoint_dir).encode())
    for name in DATA_FILES:
        digest.update((DATA / name).read_bytes())
    digest.update(f"{GREEDY_TOKENS} {ANSWER_TOKENS} {WINDOW}".encode())
    for library in LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}".encode())
    return digest.hexdigest()[:16]


def cached(checkpoint_dir: Path, cache_dir: Path) -> Reference:
    """The checkpoint's reference from cache_dir/reference-<key>, computed and stored there first when
    absent."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    folder = cache_dir / f"reference-{key(checkpoint_dir)}"
    with open(cache_dir / "reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / "meta.json").is_file():
            store(Reference.compute(checkpoint_dir), folder)
    return load(folder, checkpoint_dir)


def store(reference: Reference, folder: Path) -> None:
    """Written to a staging folder and renamed: a folder with meta.json is complete."""
    staging = folder.with_name(folder.name + ".writing")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    np.savez(staging / "greedy_logits.npz", *reference.greedy_logits)
    np.savez(staging / "window_logits.npz", *reference.window_logits)
    meta = {
        "prompts": reference.prompts,
        "greedy": reference.greedy,
        "windows": reference.windows,
        "questions": reference.questions,
        "answerable": reference.answerable,
        "end_ids": list(reference.end_ids),
    }
    (staging / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def load(folder: Path, checkpoint_dir: Path) -> Reference:
    from transformers import AutoTokenizer

    meta = json.loads((folder / "meta.json").read_text())
    return Reference(
        prompts=meta["prompts"],
        greedy=meta["greedy"],
        greedy_logits=_arrays(folder / "greedy_logits.npz"),
        windows=meta["windows"],
        window_logits=_arrays(folder / "window_logits.npz"),
        questions=meta["questions"],
        answerable=meta["answerable"],
        end_ids=tuple(meta["end_ids"]),
        tokenizer=AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True),
    )


def _arrays(path: Path) -> list[np.ndarray]:
    """np.savez's arr_0, arr_1, ... in order."""
    with np.load(path) as stored:
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]
