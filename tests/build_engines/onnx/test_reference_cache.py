"""The PyTorch reference kept on disk (build_engines/onnx/reference_cache.py): what is stored reads back
exactly, and a gate finding it under its key reads it instead of computing it again."""

import numpy as np

from build_engines.onnx import reference_cache
from build_engines.onnx.reference import Reference


def make_reference(tokenizer=None) -> Reference:
    """A small reference whose every value differs from what PyTorch computes on the shipped data."""
    rng = np.random.default_rng(0)
    return Reference(
        prompts=[[1, 2, 3], [4, 5]],
        greedy=[[7, 8], [9, 10]],
        greedy_logits=[rng.standard_normal((2, 6), dtype=np.float32) for _ in range(2)],
        windows=[[11, 12, 13, 14]],
        window_logits=[rng.standard_normal((3, 6), dtype=np.float32)],
        questions=[[15, 16]],
        answerable=[True],
        end_ids=(2, 0),
        tokenizer=tokenizer,
    )


def assert_same(ours: Reference, theirs: Reference) -> None:
    for name in ("prompts", "greedy", "windows", "questions", "answerable", "end_ids"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("greedy_logits", "window_logits"):
        pairs = zip(getattr(ours, name), getattr(theirs, name), strict=True)
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in pairs), name


def test_stored_reference_reads_back_exactly(tmp_path, checkpoint_dir):
    stored = make_reference()
    reference_cache.store(stored, tmp_path / "reference-x")
    loaded = reference_cache.load(tmp_path / "reference-x", checkpoint_dir)
    assert_same(loaded, stored)
    assert loaded.tokenizer.decode([1]) == "<|im_start|>"  # the checkpoint's own tokenizer
    assert not (tmp_path / "reference-x.writing").exists()


def test_a_cached_reference_is_read_not_computed(tmp_path, checkpoint_dir):
    # Stored under the checkpoint's key: cached() returns these made-up values, so it did not run
    # PyTorch (whose values these are not).
    reference_cache.store(make_reference(), tmp_path / f"reference-{reference_cache.key(checkpoint_dir)}")
    assert_same(reference_cache.cached(checkpoint_dir, tmp_path), make_reference())


def test_the_key_follows_the_library_versions(checkpoint_dir, monkeypatch):
    before = reference_cache.key(checkpoint_dir)
    assert reference_cache.key(checkpoint_dir) == before  # stable
    monkeypatch.setattr(reference_cache, "LIBRARIES", ("torch", "transformers", "numpy"))
    assert reference_cache.key(checkpoint_dir) != before
