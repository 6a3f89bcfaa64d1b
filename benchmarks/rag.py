"""Knowledge bases: ingestion overhead, retrieval latency, and recall on chatterbot-corpus.

    .venv/bin/python benchmarks/rag.py [--parts ingest,latency,recall] [--chunks 400] [--rounds 4]
                                       [--sizes 10000,100000] [--queries 200] [--threads 2]

(a) ingest: one text document goes through the platform's ingestion (bounded parser
    process, splitting into 256-token chunks, MiniLM embedding, Chroma, database) and the
    same chunk texts through the bare embedding model, in the same run: chunks/s of each
    and the overhead of the pipeline (target: at most 20%).
(b) latency: a base with N chunks (synthetic unit vectors; texts drawn from the corpus)
    answers single queries through `KnowledgeBaseService.query`, dense and hybrid; p50
    and p99 in ms, and Chroma's own query time alone.
(c) recall: the English question/answer pairs of chatterbot-corpus 1.3.3; each distinct
    answer is a document, each pair's question a query whose relevant document is its
    answer. recall@5 and MRR of dense MiniLM and of hybrid (target: hybrid >= dense).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiplayground.app import build_platform
from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.files import IncomingFile
from aiplayground.rag.schemas import EvalQuestion, KnowledgeBaseCreate
from aiplayground.rag.service import KnowledgeBaseService
from aiplayground.settings import Settings


def chatterbot_pairs() -> list[tuple[str, str]]:
    """(question, answer) of every English conversation's first exchange."""
    import yaml

    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install chatterbot-corpus==1.3.3")
    folder = Path(spec.origin).parent / "data" / "english"
    pairs = []
    for path in sorted(glob.glob(str(folder / "*.yml"))):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        for conversation in data.get("conversations") or []:
            if len(conversation) >= 2:
                pairs.append((str(conversation[0]).strip(), str(conversation[1]).strip()))
    return pairs


def platform_and_service(home: Path, threads: int) -> tuple[Any, KnowledgeBaseService, Principal]:
    settings = Settings(
        home=home,
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        rag={"embedding_threads": threads, "ingestion_workers": 1},  # type: ignore[arg-type]
    )
    platform = build_platform(settings)
    with contextlib.redirect_stdout(sys.stderr):  # the first-start login link is not JSON
        platform.start()
    service = KnowledgeBaseService(platform.db, platform.storage, settings, platform.endpoints)
    service.start()
    user = platform.auth.ensure_user("bench", Role.MEMBER)
    return platform, service, Principal(user_id=user.id, name=user.name, role=Role.MEMBER)


# (a) ingestion -------------------------------------------------------------------------


def bench_ingest(
    service: KnowledgeBaseService, caller: Principal, chunks: int, rounds: int, folder: Path
) -> dict[str, Any]:
    """Alternate: one document through the pipeline, then its chunks through the bare model."""
    from sqlalchemy import select

    from aiplayground.store.rag_tables import KnowledgeChunk

    answers = [a for _, a in chatterbot_pairs()]
    service.create(caller, KnowledgeBaseCreate(name="ingest"))
    embedder = service.models.get("all-minilm-l6-v2")
    embedder.embed_documents(["warm up the model"])
    pipeline_s = bare_s = 0.0
    total = 0
    tokens: list[int] = []
    for round_ in range(rounds):
        paragraphs, words, i = [], 0, round_ * 7919
        while words < chunks * 100 // rounds:  # about 100 words per 256-token chunk
            paragraph = " ".join(answers[(i + j) % len(answers)] for j in range(6))
            paragraphs.append(f"Round {round_}. {paragraph}")
            words += len(paragraph.split())
            i += 6
        path = folder / f"corpus-{round_}.txt"
        path.write_text("\n\n".join(paragraphs))
        started = time.perf_counter()
        (document,) = service.add_documents(caller, "ingest", [IncomingFile(path.name, path)])
        service.ingestor.wait_idle()
        pipeline_s += time.perf_counter() - started
        with service.db.session() as s:
            texts = list(
                s.scalars(
                    select(KnowledgeChunk.text).where(
                        KnowledgeChunk.document_id == document.id, KnowledgeChunk.kind == "chunk"
                    )
                )
            )
        assert texts, service.get_document(caller, "ingest", document.id).error
        started = time.perf_counter()
        embedder.embed_documents(texts)
        bare_s += time.perf_counter() - started
        total += len(texts)
        tokens += embedder.count_tokens(texts)
    pipeline = total / pipeline_s
    bare = total / bare_s
    return {
        "chunks": total,
        "rounds": rounds,
        "mean_tokens_per_chunk": round(statistics.mean(tokens), 1),
        "pipeline_chunks_per_s": round(pipeline, 2),
        "bare_model_chunks_per_s": round(bare, 2),
        "overhead": round(1 - pipeline / bare, 4),
        "pipeline_s": round(pipeline_s, 2),
        "bare_s": round(bare_s, 2),
    }


# (b) latency ---------------------------------------------------------------------------


def fill_base(service: KnowledgeBaseService, caller: Principal, name: str, size: int) -> float:
    """A base of `size` chunks with random unit vectors and corpus texts; seconds to build."""
    import numpy as np

    from aiplayground.rag.index import collection_name
    from aiplayground.store.rag_tables import KnowledgeChunk, KnowledgeDocument
    from aiplayground.store.tables import new_id

    info = service.create(caller, KnowledgeBaseCreate(name=name))
    answers = [a for _, a in chatterbot_pairs()]
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    with service.db.session() as s:
        document = KnowledgeDocument(
            base_id=info.id, name="synthetic.txt", format="text", status="ready", chunks=size
        )
        s.add(document)
        s.flush()
        document_id = document.id
    step = 5000
    for start in range(0, size, step):
        count = min(step, size - start)
        ids = [new_id() for _ in range(count)]
        vectors = rng.normal(size=(count, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [
            " ".join(answers[int(k) % len(answers)] for k in rng.integers(0, 10**6, 4))
            for _ in range(count)
        ]
        with service.db.session() as s:
            s.add_all(
                KnowledgeChunk(
                    id=i,
                    base_id=info.id,
                    document_id=document_id,
                    index_version=1,
                    seq=start + n,
                    kind="chunk",
                    text=t,
                    tokens=len(t.split()),
                )
                for n, (i, t) in enumerate(zip(ids, texts, strict=True))
            )
        service.index.add(
            collection_name(info.id, 1), ids, vectors, [{"document_id": document_id}] * count
        )
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def bench_latency(
    service: KnowledgeBaseService, caller: Principal, sizes: list[int], queries: int
) -> list[dict[str, Any]]:
    import numpy as np

    from aiplayground.rag.index import collection_name
    from aiplayground.rag.schemas import RetrievalMode, RetrievalOverride

    questions = [q for q, _ in chatterbot_pairs()][:queries]
    results = []
    for size in sizes:
        name = f"latency-{size}"
        build_s = fill_base(service, caller, name, size)
        info = service.get(caller, name)
        row: dict[str, Any] = {"chunks": size, "build_s": round(build_s, 1)}
        for mode in (RetrievalMode.DENSE, RetrievalMode.HYBRID):
            override = RetrievalOverride(mode=mode)
            service.query(caller, name, "warm up", 4, retrieval=override)  # BM25 index built here
            samples = []
            for question in questions:
                started = time.perf_counter()
                service.query(caller, name, question, 4, retrieval=override)
                samples.append(time.perf_counter() - started)
            row[mode.value] = percentiles(samples)
        vectors = service.models.get("all-minilm-l6-v2").embed_queries(questions)
        samples = []
        for vector in vectors:
            started = time.perf_counter()
            service.index.query(collection_name(info.id, 1), np.asarray(vector), 4)
            samples.append(time.perf_counter() - started)
        row["chroma_alone"] = percentiles(samples)
        results.append(row)
    return results


# (c) recall ----------------------------------------------------------------------------


def bench_recall(service: KnowledgeBaseService, caller: Principal) -> dict[str, Any]:
    from aiplayground.rag.loaders import Section
    from aiplayground.rag.parse import Parsed
    from aiplayground.rag.schemas import RetrievalMode, RetrievalOverride
    from aiplayground.store.rag_tables import KnowledgeDocument

    pairs = chatterbot_pairs()
    answers = list(dict.fromkeys(a for _, a in pairs))
    info = service.create(caller, KnowledgeBaseCreate(name="chatterbot"))
    ids: dict[str, str] = {}
    started = time.perf_counter()
    for number, answer in enumerate(answers):
        # The documents are single short answers: the parser process is skipped, the rest
        # (splitting, embedding, index and database writes) is the ingestion's own code.
        with service.db.session() as s:
            document = KnowledgeDocument(
                base_id=info.id, name=f"answer-{number}.txt", format="text", status="processing"
            )
            s.add(document)
            s.flush()
            ids[answer] = document.id
        service.ingestor.index_parsed(info.id, ids[answer], Parsed([Section(answer)]))
    index_s = time.perf_counter() - started
    questions = [EvalQuestion(question=q, relevant=[ids[a]]) for q, a in pairs]
    result: dict[str, Any] = {
        "pairs": len(pairs),
        "documents": len(answers),
        "index_s": round(index_s, 1),
    }
    for label, override in (
        ("dense", RetrievalOverride(mode=RetrievalMode.DENSE)),
        ("hybrid", RetrievalOverride(mode=RetrievalMode.HYBRID)),
        ("hybrid_mmr", RetrievalOverride(mode=RetrievalMode.HYBRID, mmr=True, mmr_lambda=0.7)),
    ):
        started = time.perf_counter()
        scored = service.evaluate(caller, "chatterbot", questions, 5, retrieval=override)
        result[label] = {
            "recall_at_5": scored.recall_at_k,
            "mrr": scored.mrr,
            "seconds": round(time.perf_counter() - started, 1),
        }
    one = service.evaluate(
        caller, "chatterbot", questions, 1, retrieval=RetrievalOverride(mode=RetrievalMode.DENSE)
    )
    result["dense"]["recall_at_1"] = one.recall_at_k
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--parts", default="ingest,latency,recall")
    parser.add_argument("--chunks", type=int, default=400, help="chunks in the ingest test")
    parser.add_argument("--rounds", type=int, default=4, help="alternations in the ingest test")
    parser.add_argument("--sizes", default="10000,100000", help="base sizes for latency")
    parser.add_argument("--queries", type=int, default=200, help="queries per latency run")
    parser.add_argument("--threads", type=int, default=2, help="embedding threads")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parts = set(args.parts.split(","))
    report: dict[str, Any] = {"threads": args.threads, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as folder:
        platform, service, caller = platform_and_service(Path(folder) / "home", args.threads)
        try:
            if "ingest" in parts:
                report["ingest"] = bench_ingest(
                    service, caller, args.chunks, args.rounds, Path(folder)
                )
                print(json.dumps({"ingest": report["ingest"]}), file=sys.stderr)
            if "recall" in parts:
                report["recall"] = bench_recall(service, caller)
                print(json.dumps({"recall": report["recall"]}), file=sys.stderr)
            if "latency" in parts:
                sizes = [int(s) for s in args.sizes.split(",") if s]
                report["latency"] = bench_latency(service, caller, sizes, args.queries)
        finally:
            service.close()
            platform.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
