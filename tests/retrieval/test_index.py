import numpy as np
import pytest

from retrieval.index import EXACT, IVF, IndexSpec, VectorIndex, choose_spec, gpu_count


def _unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_choose_spec_switches_to_ivf_above_threshold():
    assert choose_spec(1000, exact_max=5000) == IndexSpec(EXACT)
    spec = choose_spec(40_000, exact_max=5000)
    assert spec.kind == IVF
    assert spec.nlist == int(4 * 40_000**0.5)
    assert 1 <= spec.nprobe < spec.nlist


def test_exact_index_finds_each_vector_itself():
    vectors = _unit_vectors(200)
    index = VectorIndex.build(vectors, device="cpu")
    hits = index.search(vectors[:10], 3)
    assert hits.ids.shape == (10, 3)
    assert list(hits.ids[:, 0]) == list(range(10))
    np.testing.assert_allclose(hits.scores[:, 0], 1.0, rtol=1e-5)
    assert (np.diff(hits.scores, axis=1) <= 1e-6).all()


def test_fewer_vectors_than_k_pads_with_minus_one():
    index = VectorIndex.build(_unit_vectors(2), device="cpu")
    hits = index.search(_unit_vectors(1, seed=5), 4)
    assert list(hits.ids[0, 2:]) == [-1, -1]


def test_ivf_index_agrees_with_exact_search():
    vectors = _unit_vectors(3000, seed=1)
    queries = vectors[:50] + 0.01 * _unit_vectors(50, seed=2)
    exact = VectorIndex.build(vectors, device="cpu").search(queries, 10)
    ivf_index = VectorIndex.build(vectors, exact_max=100, device="cpu")
    assert ivf_index.spec.kind == IVF
    approx = ivf_index.search(queries, 10)
    # The query's own source vector (its nearest neighbour) must be found by IVF too.
    assert (approx.ids[:, 0] == exact.ids[:, 0]).mean() >= 0.95


def test_save_and_load_round_trip(tmp_path):
    vectors = _unit_vectors(500, seed=3)
    index = VectorIndex.build(vectors, exact_max=100, device="cpu")
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", device="cpu")
    assert loaded.size == 500
    assert loaded.dim == 32
    assert loaded.spec == index.spec
    np.testing.assert_array_equal(
        loaded.search(vectors[:5], 5).ids, index.search(vectors[:5], 5).ids
    )


def test_rejects_bad_shapes_and_k():
    index = VectorIndex.build(_unit_vectors(5), device="cpu")
    with pytest.raises(ValueError, match="2-d"):
        index.search(np.zeros(32, dtype=np.float32), 1)
    with pytest.raises(ValueError, match="k must be positive"):
        index.search(_unit_vectors(1), 0)


def test_gpu_requested_without_gpu_fails_clearly():
    if gpu_count() > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no GPU"):
        VectorIndex.build(_unit_vectors(10), device="gpu")


@pytest.mark.gpu
@pytest.mark.skipif(gpu_count() == 0, reason="faiss sees no GPU")
def test_gpu_index_matches_cpu_index():
    vectors = _unit_vectors(2000, seed=4)
    cpu = VectorIndex.build(vectors, device="cpu")
    gpu = VectorIndex.build(vectors, device="gpu")
    assert gpu.device == "gpu"
    np.testing.assert_array_equal(gpu.search(vectors[:20], 5).ids, cpu.search(vectors[:20], 5).ids)
