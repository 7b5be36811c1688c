"""Retrieval benchmark: answer quality and latency on the demo store, and FAISS at scale.

Part 1 runs the real Django code path against a throwaway SQLite database and model folder:
the demo store (155 products, 70 FAQ entries) is loaded and indexed, then each of the 210 FAQ
paraphrases in ``bench/data/faq_paraphrases.jsonl`` is searched with

* ShopDesk dense: ``webapp.kb.selectors.kb_search`` (MiniLM encode, FAISS, DB resolve), as
  ``manage.py search_kb`` does;
* ShopDesk hybrid: ``retrieval.knowledge.KnowledgeBase`` with BM25 mixed in (weights 0.1, 0.3);
* a BM25 baseline: ``retrieval.bm25.BM25`` over whole documents.

For each it reports recall@1, recall@5 and MRR@10 of the paraphrased FAQ entry among hits of
every kind, and per-query latency; for the dense path also the answer precision and coverage of
the chat's FAQ score threshold.

Part 2 indexes synthetic clustered 384-d unit vectors with ``retrieval.index.VectorIndex`` and
compares exact (flat) search with IVF at several ``nprobe`` values: build time, memory,
single-query and batch-of-100 throughput, and IVF recall@10 against the exact results.

Run: ``.venv/bin/python -m bench.retrieval [--quick] [--sizes 10000,100000] [--json FILE]``.
Tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.bm25 import BM25
from retrieval.documents import FAQ, PRODUCT, Document
from retrieval.embedding import EMBEDDING_DIM
from retrieval.index import EXACT, IVF, IndexSpec, VectorIndex, choose_spec

PARAPHRASES = Path(__file__).resolve().parent / "data" / "faq_paraphrases.jsonl"

K = 10
WARMUP_QUERIES = 5
HYBRID_WEIGHTS = (0.1, 0.3)
ANSWER_THRESHOLDS = (0.45, 0.5, 0.55, 0.6, 0.65)

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
DEFAULT_QUERIES = 1_000
QUICK_QUERIES = 200
# Flat search over 1M vectors costs ~140 ms a query here: time single exact queries on a subset.
EXACT_SINGLE_QUERY_BUDGET = 200_000_000  # n * queries searched one at a time: 200 at 1M
BATCH = 100
CHUNK_ROWS = 100_000

DocKey = tuple[str, int]
Ranking = list[tuple[DocKey, float]]  # best first: (kind, id) and the reported score
Ranker = Callable[[str], Ranking]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- output ---------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def section(title: str) -> None:
    print(f"\n{title}\n{'=' * len(title)}")


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


# --- part 1: quality and latency on the demo store ----------------------------------------


@dataclass(frozen=True)
class Case:
    text: str
    gold: DocKey


@dataclass(frozen=True)
class DemoStore:
    store_id: int
    directory: Path
    documents: list[Document]
    faq_ids: dict[str, int]  # question -> FaqEntry id
    intents: dict[int, str]  # FaqEntry id -> intent ("" when none)
    chunks: int
    index_kind: str
    built_on_commit: bool


@dataclass(frozen=True)
class Quality:
    method: str
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    p50_ms: float
    p99_ms: float
    queries: int


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    coverage: float  # share of paraphrases answered: top hit an FAQ with score >= threshold
    correct: float  # share answered with the paraphrased entry
    wrong: float  # share answered with another entry
    wrong_same_intent: float  # ... of which share the paraphrased entry's (non-empty) intent
    precision: float  # correct / answered


def setup_django(workdir: Path) -> None:
    """Point Django at a throwaway SQLite file and model folder, embedded mode, then migrate."""
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["MODEL_DIR"] = str(workdir / "models")
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def load_demo_store() -> DemoStore:
    """Load the demo store (indexed on commit in embedded mode) and make sure it has an index."""
    from webapp.catalog.models import FaqEntry
    from webapp.demo.services import DEMO_SLUG, demo_load
    from webapp.kb.selectors import kb_documents, search_index_live
    from webapp.kb.services import search_index_build
    from webapp.stores.selectors import store_get_by_slug

    demo_load()
    store = store_get_by_slug(slug=DEMO_SLUG)
    if store is None:
        raise RuntimeError("demo_load() did not create the demo store")
    built_on_commit = search_index_live(store_id=store.id) is not None
    index = search_index_build(store_id=store.id).index
    entries = FaqEntry.objects.filter(store_id=store.id).values_list("id", "question", "intent")
    return DemoStore(
        store_id=store.id,
        directory=index.directory,
        documents=kb_documents(store_id=store.id),
        faq_ids={question: entry_id for entry_id, question, _ in entries},
        intents={entry_id: intent for entry_id, _, intent in entries},
        chunks=index.chunks,
        index_kind=index.index_kind,
        built_on_commit=built_on_commit,
    )


def load_cases(faq_ids: dict[str, int]) -> list[Case]:
    cases = []
    with open(PARAPHRASES, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["question"] not in faq_ids:
                raise ValueError(f"{PARAPHRASES}:{number}: no FAQ entry {row['question']!r}")
            cases.append(Case(row["text"], (FAQ, faq_ids[row["question"]])))
    return cases


def dense_ranker(store_id: int) -> Ranker:
    """What ``manage.py search_kb`` runs for one query (it encodes inside ``kb_search``)."""
    from webapp.kb.selectors import kb_search

    def rank(text: str) -> Ranking:
        sources = kb_search(store_id=store_id, query=text, k=K)
        return [((source.kind, source.id), source.score) for source in sources]

    return rank


def knowledge_ranker(directory: Path, lexical_weight: float) -> Ranker:
    """Encode the query, then search the saved knowledge base with BM25 mixed in."""
    from retrieval.embedding import shared_encoder
    from retrieval.knowledge import KnowledgeBase

    knowledge = KnowledgeBase.load(directory, lexical_weight=lexical_weight)
    encoder = shared_encoder()

    def rank(text: str) -> Ranking:
        vector = encoder.encode([text])[0]
        hits = knowledge.search(vector, K, query_text=text)
        return [((hit.kind, hit.id), hit.score) for hit in hits]

    return rank


def bm25_ranker(documents: Sequence[Document]) -> Ranker:
    """BM25 over whole documents: FAQ question + answer, product name + description."""
    keys = [(doc.kind, doc.id) for doc in documents]
    bm25 = BM25([f"{doc.title}\n{doc.body}" for doc in documents])

    def rank(text: str) -> Ranking:
        return [(keys[index], score) for index, score in bm25.top(text, K)]

    return rank


def gold_rank(gold: DocKey, ranking: Ranking) -> int | None:
    """1-based position of ``gold`` among the first ``K`` hits, or None."""
    for position, (key, _) in enumerate(ranking[:K], start=1):
        if key == gold:
            return position
    return None


def evaluate(method: str, cases: Sequence[Case], rank: Ranker) -> tuple[Quality, list[Ranking]]:
    """Run every case through ``rank`` (after a warm-up), timing each call on its own."""
    for case in cases[:WARMUP_QUERIES]:
        rank(case.text)
    latencies_ms: list[float] = []
    rankings: list[Ranking] = []
    for case in cases:
        started = time.perf_counter()
        ranking = rank(case.text)
        latencies_ms.append(1000 * (time.perf_counter() - started))
        rankings.append(ranking)
    pairs = zip(cases, rankings, strict=True)
    positions = [gold_rank(case.gold, ranking) for case, ranking in pairs]
    quality = Quality(
        method=method,
        recall_at_1=float(np.mean([p == 1 for p in positions])),
        recall_at_5=float(np.mean([p is not None and p <= 5 for p in positions])),
        mrr_at_10=float(np.mean([1 / p if p else 0.0 for p in positions])),
        p50_ms=float(np.percentile(latencies_ms, 50)),
        p99_ms=float(np.percentile(latencies_ms, 99)),
        queries=len(cases),
    )
    return quality, rankings


def threshold_rows(
    cases: Sequence[Case], rankings: Sequence[Ranking], intents: dict[int, str]
) -> list[ThresholdRow]:
    """Answer precision and coverage of "answer when the top hit is an FAQ scoring >= t"."""
    rows = []
    total = len(cases)
    for threshold in ANSWER_THRESHOLDS:
        correct = wrong = same_intent = 0
        for case, ranking in zip(cases, rankings, strict=True):
            if not ranking:
                continue
            (kind, doc_id), score = ranking[0]
            if kind != FAQ or score < threshold:
                continue
            if (kind, doc_id) == case.gold:
                correct += 1
                continue
            wrong += 1
            gold_intent = intents.get(case.gold[1], "")
            same_intent += bool(gold_intent) and intents.get(doc_id) == gold_intent
        answered = correct + wrong
        rows.append(
            ThresholdRow(
                threshold=threshold,
                coverage=answered / total,
                correct=correct / total,
                wrong=wrong / total,
                wrong_same_intent=same_intent / total,
                precision=correct / answered if answered else float("nan"),
            )
        )
    return rows


def run_quality(workdir: Path) -> dict[str, Any]:
    log("part 1: setting up Django and the demo store ...")
    setup_django(workdir)
    store = load_demo_store()
    cases = load_cases(store.faq_ids)
    methods: list[tuple[str, Callable[[], Ranker]]] = [
        ("ShopDesk dense (kb_search)", lambda: dense_ranker(store.store_id)),
        ("KnowledgeBase dense, w=0", lambda: knowledge_ranker(store.directory, 0.0)),
        *(
            (f"ShopDesk hybrid, w={w}", lambda w=w: knowledge_ranker(store.directory, w))
            for w in HYBRID_WEIGHTS
        ),
        ("BM25 baseline", lambda: bm25_ranker(store.documents)),
    ]
    qualities: list[Quality] = []
    dense_rankings: list[Ranking] = []
    for name, make in methods:
        log(f"part 1: {name} ...")
        quality, rankings = evaluate(name, cases, make())
        qualities.append(quality)
        if not dense_rankings:
            dense_rankings = rankings
    counts = {kind: sum(doc.kind == kind for doc in store.documents) for kind in (FAQ, PRODUCT)}
    return {
        "setup": {
            "products": counts[PRODUCT],
            "faq_entries": counts[FAQ],
            "chunks": store.chunks,
            "index_kind": store.index_kind,
            "index_built_on_commit": store.built_on_commit,
            "paraphrases": len(cases),
            "paraphrased_entries": len({case.gold for case in cases}),
        },
        "methods": [asdict(quality) for quality in qualities],
        "thresholds": [asdict(row) for row in threshold_rows(cases, dense_rankings, store.intents)],
    }


def print_quality(result: dict[str, Any]) -> None:
    setup = result["setup"]
    section("Part 1: FAQ paraphrase retrieval on the demo store (real Django path)")
    print(
        f"{setup['products']} products + {setup['faq_entries']} FAQ entries -> "
        f"{setup['chunks']} chunks, {setup['index_kind']} index "
        f"(built on commit by demo_load: {'yes' if setup['index_built_on_commit'] else 'no'}); "
        f"{setup['paraphrases']} paraphrases of {setup['paraphrased_entries']} entries, "
        f"k={K}, hits of every kind ranked"
    )
    print()
    rows = [
        [
            m["method"],
            f"{m['recall_at_1']:.3f}",
            f"{m['recall_at_5']:.3f}",
            f"{m['mrr_at_10']:.3f}",
            f"{m['p50_ms']:.2f}",
            f"{m['p99_ms']:.2f}",
        ]
        for m in result["methods"]
    ]
    print(table(["method", "R@1", "R@5", "MRR@10", "p50 ms", "p99 ms"], rows))
    print()
    print("Chat answer threshold on the dense path: answer when the top hit is an FAQ entry")
    print("scoring >= t (shares of all paraphrases; precision = correct / answered)")
    print()
    rows = [
        [
            f"{r['threshold']:.2f}",
            percent(r["coverage"]),
            percent(r["correct"]),
            percent(r["wrong"]),
            percent(r["wrong_same_intent"]),
            percent(r["precision"]),
        ]
        for r in result["thresholds"]
    ]
    headers = ["t", "answered", "correct", "wrong", "wrong, same intent", "precision"]
    print(table(headers, rows))


# --- part 2: FAISS exact vs IVF at scale -------------------------------------------------


@dataclass(frozen=True)
class SyntheticData:
    """Unit vectors around random cluster centres, with a per-cluster spread.

    There are ``clusters_per_sqrt_n * sqrt(n)`` clusters (2,000 at 1M), half of IVF's
    ``4 * sqrt(n)`` lists at every size, so rows for different ``n`` compare like with like.
    ``spread`` is the expected norm of a point's noise relative to its unit centre: at 2.0 a
    query's 10th neighbour sits at cosine ~0.25 and IVF misses some; recall@10 falls quickly as
    the spread grows (the clusters overlap), so read the IVF recall as relative, not absolute.
    """

    spread: float = 2.0
    clusters_per_sqrt_n: float = 2.0
    spread_jitter: float = 0.3  # each cluster's spread is scaled by U(1 - j, 1 + j)
    query_noise: float = 0.3  # queries: held-out points plus noise of this relative norm
    seed: int = 20240601

    def clusters(self, n: int) -> int:
        return max(1, round(self.clusters_per_sqrt_n * np.sqrt(n)))


@dataclass(frozen=True)
class ScaleRow:
    n: int
    index: str
    nlist: int
    nprobe: int
    default: bool  # what choose_spec picks for n at the configured SEARCH_EXACT_MAX_VECTORS
    build_s: float
    memory_mb: float
    single_queries: int
    single_p50_ms: float
    single_qps: float
    batch_qps: float
    recall_at_10: float


def normalised(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_vectors(n: int, n_queries: int, data: SyntheticData) -> tuple[np.ndarray, np.ndarray]:
    """``n`` indexed vectors and ``n_queries`` perturbed held-out points, float32, unit norm."""
    rng = np.random.default_rng(data.seed)
    dim = EMBEDDING_DIM
    clusters = data.clusters(n)
    centres = normalised(rng.standard_normal((clusters, dim), dtype=np.float32))
    jitter = rng.uniform(1 - data.spread_jitter, 1 + data.spread_jitter, clusters)
    sigma = (data.spread * jitter / np.sqrt(dim)).astype(np.float32)

    def points(count: int) -> np.ndarray:
        labels = rng.integers(0, clusters, count)
        noise = rng.standard_normal((count, dim), dtype=np.float32)
        return normalised(centres[labels] + sigma[labels, None] * noise)

    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        vectors[start:stop] = points(stop - start)
    held_out = points(n_queries)
    noise = rng.standard_normal(held_out.shape, dtype=np.float32)
    queries = normalised(held_out + (data.query_noise / np.sqrt(dim)) * noise)
    return vectors, np.ascontiguousarray(queries, dtype=np.float32)


def index_bytes(index: VectorIndex) -> int:
    import faiss

    return int(faiss.serialize_index(index._cpu_index).nbytes)


def set_nprobe(index: VectorIndex, nprobe: int) -> None:
    """Change how many IVF lists a search visits (``VectorIndex`` fixes it at build time)."""
    import faiss

    faiss.extract_index_ivf(index._cpu_index).nprobe = nprobe


def time_single(index: VectorIndex, queries: np.ndarray) -> tuple[float, float]:
    """p50 latency (ms) and queries/s for one query per search call."""
    index.search(queries[:WARMUP_QUERIES], K)
    latencies = np.empty(len(queries))
    for row in range(len(queries)):
        started = time.perf_counter()
        index.search(queries[row : row + 1], K)
        latencies[row] = time.perf_counter() - started
    return float(1000 * np.median(latencies)), float(1 / latencies.mean())


def time_batches(index: VectorIndex, queries: np.ndarray) -> tuple[float, np.ndarray]:
    """Queries/s searching ``BATCH`` queries per call, and the ids found ``(m, K)``."""
    index.search(queries[:BATCH], K)
    ids = []
    started = time.perf_counter()
    for start in range(0, len(queries), BATCH):
        ids.append(index.search(queries[start : start + BATCH], K).ids)
    elapsed = time.perf_counter() - started
    return len(queries) / elapsed, np.concatenate(ids)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    overlaps = [
        len(set(row[row >= 0].tolist()) & set(true[true >= 0].tolist())) / K
        for row, true in zip(found, truth, strict=True)
    ]
    return float(np.mean(overlaps))


def build(vectors: np.ndarray, spec: IndexSpec) -> tuple[VectorIndex, float]:
    started = time.perf_counter()
    index = VectorIndex.build(vectors, spec=spec, device="cpu")
    return index, time.perf_counter() - started


def nprobe_values(spec: IndexSpec) -> list[int]:
    """The default nprobe and a cheaper and a dearer one, in increasing order."""
    return sorted({max(1, spec.nlist // 32), spec.nprobe, max(1, spec.nlist // 8)})


def bench_size(
    n: int, n_queries: int, data: SyntheticData, exact_max: int
) -> tuple[list[ScaleRow], float]:
    """Rows for exact search and IVF at a few nprobe values over ``n`` vectors."""
    log(f"part 2: n={n:,}: generating vectors ...")
    started = time.perf_counter()
    vectors, queries = synthetic_vectors(n, n_queries, data)
    generate_s = time.perf_counter() - started
    chosen = choose_spec(n, exact_max=exact_max)
    single = queries[: max(50, min(n_queries, EXACT_SINGLE_QUERY_BUDGET // n))]

    log(f"part 2: n={n:,}: exact ...")
    exact, build_s = build(vectors, IndexSpec(EXACT))
    batch_qps, truth = time_batches(exact, queries)
    p50, qps = time_single(exact, single)
    rows = [
        ScaleRow(
            n=n,
            index=EXACT,
            nlist=0,
            nprobe=0,
            default=chosen.kind == EXACT,
            build_s=build_s,
            memory_mb=index_bytes(exact) / 2**20,
            single_queries=len(single),
            single_p50_ms=p50,
            single_qps=qps,
            batch_qps=batch_qps,
            recall_at_10=recall_at_k(truth, truth),
        )
    ]
    del exact

    spec = choose_spec(n, exact_max=0)  # the IVF parameters choose_spec uses for this n
    log(f"part 2: n={n:,}: IVF nlist={spec.nlist} (train + add) ...")
    ivf, build_s = build(vectors, spec)
    del vectors
    memory_mb = index_bytes(ivf) / 2**20
    for nprobe in nprobe_values(spec):
        log(f"part 2: n={n:,}: IVF nprobe={nprobe} ...")
        set_nprobe(ivf, nprobe)
        batch_qps, found = time_batches(ivf, queries)
        p50, qps = time_single(ivf, queries)
        is_default = chosen.kind == IVF and nprobe == chosen.nprobe
        rows.append(
            ScaleRow(
                n=n,
                index=IVF,
                nlist=spec.nlist,
                nprobe=nprobe,
                default=is_default,
                build_s=build_s,
                memory_mb=memory_mb,
                single_queries=len(queries),
                single_p50_ms=p50,
                single_qps=qps,
                batch_qps=batch_qps,
                recall_at_10=recall_at_k(found, truth),
            )
        )
    return rows, generate_s


def run_scale(
    sizes: Sequence[int], n_queries: int, exact_max: int, spread: float
) -> dict[str, Any]:
    data = SyntheticData(spread=spread)
    rows: list[ScaleRow] = []
    generate_s: dict[str, float] = {}
    for n in sizes:
        size_rows, seconds = bench_size(n, n_queries, data, exact_max)
        rows += size_rows
        generate_s[str(n)] = seconds
    return {
        "data": asdict(data)
        | {
            "dim": EMBEDDING_DIM,
            "queries": n_queries,
            "clusters": {str(n): data.clusters(n) for n in sizes},
        },
        "exact_max": exact_max,
        "generate_seconds": generate_s,
        "rows": [asdict(row) for row in rows],
    }


def print_scale(result: dict[str, Any]) -> None:
    data = result["data"]
    section("Part 2: FAISS exact (flat) vs IVF, synthetic clustered vectors, CPU")
    print(
        f"{data['dim']}-d unit vectors in {data['clusters_per_sqrt_n']:g}*sqrt(n) Gaussian "
        f"clusters ({' / '.join(f'{c:,}' for c in data['clusters'].values())}; relative spread "
        f"{data['spread']} +/- {100 * data['spread_jitter']:.0f}%); {data['queries']} queries = "
        f"held-out points + noise {data['query_noise']}; k={K}; recall@10 vs exact; "
        f"* = what choose_spec picks at SEARCH_EXACT_MAX_VECTORS={result['exact_max']:,}"
    )
    print()
    rows = [
        [
            f"{r['n']:,}",
            ("* " if r["default"] else "") + (r["index"] if r["index"] == EXACT else "ivf"),
            str(r["nlist"]) if r["nlist"] else "-",
            str(r["nprobe"]) if r["nprobe"] else "-",
            f"{r['build_s']:.1f}",
            f"{r['memory_mb']:.1f}",
            f"{r['single_p50_ms']:.2f}",
            f"{r['single_qps']:.0f}",
            str(r["single_queries"]),
            f"{r['batch_qps']:.0f}",
            f"{r['recall_at_10']:.3f}",
        ]
        for r in result["rows"]
    ]
    headers = ["n", "index", "nlist", "nprobe", "build s", "MiB"]
    headers += ["1-q p50 ms", "1-q q/s", "1-q n", "batch-100 q/s", "R@10"]
    print(table(headers, rows))


# --- environment and main --------------------------------------------------------------------


def environment(load_at_start: float) -> dict[str, Any]:
    import faiss
    import torch

    from retrieval.embedding import shared_encoder

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "faiss": faiss.__version__,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "faiss_gpus": int(faiss.get_num_gpus()),
        "numpy": np.__version__,
        "load_average_1min_at_start": load_at_start,
        "encoder": shared_encoder().name,
        "encoder_device": shared_encoder().device,
    }


def print_environment(env: dict[str, Any]) -> None:
    section("Environment")
    print(
        f"python {env['python']} on {env['platform']}, {env['cpus']} CPUs\n"
        f"torch {env['torch']} ({env['torch_threads']} threads), encoder {env['encoder']} "
        f"on {env['encoder_device']}\n"
        f"faiss {env['faiss']} ({env['faiss_omp_threads']} OpenMP threads), "
        f"GPUs seen by faiss: {env['faiss_gpus']}; GPU used: "
        f"{'part 1 search only' if env['faiss_gpus'] else 'no'} (part 2 is CPU-only)\n"
        f"numpy {env['numpy']}; 1-min load average at start: "
        f"{env['load_average_1min_at_start']:.2f} (other work on the machine inflates timings)"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.retrieval", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="sizes 10k,100k and 200 queries")
    parser.add_argument("--sizes", help="comma-separated index sizes for part 2")
    parser.add_argument("--queries", type=int, help="queries per size in part 2")
    parser.add_argument(
        "--spread",
        type=float,
        default=SyntheticData.spread,
        help="cluster spread of the synthetic vectors (default %(default)s; larger is harder)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.sizes:
        args.sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size]
    else:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.queries = args.queries or (QUICK_QUERIES if args.quick else DEFAULT_QUERIES)
    if args.queries < BATCH or any(size <= 0 for size in args.sizes):
        parser.error(f"--queries must be at least {BATCH} and sizes positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="shopdesk-bench-"))
    try:
        quality = run_quality(workdir)
        from django.conf import settings

        exact_max = int(settings.SEARCH_EXACT_MAX_VECTORS)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    env = environment(load_at_start)
    print_environment(env)
    print_quality(quality)
    sys.stdout.flush()
    scale = run_scale(args.sizes, args.queries, exact_max, args.spread)
    print_scale(scale)
    total_s = time.perf_counter() - started
    print(
        f"\nTotal run time: {total_s:.0f} s; 1-min load average at the end: "
        f"{os.getloadavg()[0]:.2f} (this run's own busy threads count towards it)"
    )
    if args.json:
        report = {
            "environment": env | {"load_average_1min_at_end": os.getloadavg()[0]},
            "quality": quality,
            "scale": scale,
            "seconds": total_s,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
