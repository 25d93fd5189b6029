"""BM25 (optionally with RM3) through Pyserini/Anserini, in-process over pyjnius.

Indexing writes the corpus as an Anserini JsonCollection ({"id", "contents"}, contents exactly
`Doc.contents()`, i.e. title + " " + text as BEIR/Pyserini's "flat" indexes do) into a temporary
subfolder of `workdir`, runs Anserini's IndexCollection on it (positions and document vectors stored, as
RM3 needs), and deletes the JSON. The Lucene index files sit directly in `workdir`, which is also the
`index_dir` that `search` takes.

Pyserini is imported only inside the methods, after `rqbench.javaenv.prepare_pyserini()`, so importing
this module is cheap and never starts a JVM.
"""

from __future__ import annotations

import gc
import json
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

from rqbench.errors import RqbenchError
from rqbench.javaenv import INSTALL_HINT, prepare_pyserini
from rqbench.types import Doc, Query, Run, ScoredDoc, sort_ranking

STEMMERS = ("porter", "krovetz", "none")
JSON_SUBDIR = "rqbench-jsoncollection-tmp"  # no leading "_": Lucene owns names like "_0.si" in workdir


@dataclass(frozen=True)
class BM25Params:
    """BM25 parameters. The defaults k1=0.9, b=0.4 are Pyserini's (and its BEIR figures');
    k1=0.82, b=0.68 are the values tuned on MS MARCO passage.

    `stemmer` decides the index (porter, krovetz or none); `threads` changes speed only.
    The RM3 fields (fb_terms, fb_docs, original_query_weight) only matter when `rm3` is true.
    """

    k1: float = 0.9
    b: float = 0.4
    rm3: bool = False
    fb_terms: int = 10
    fb_docs: int = 10
    original_query_weight: float = 0.5
    threads: int = 2
    stemmer: str = "porter"

    INDEX_FIELDS: ClassVar[tuple[str, ...]] = ("stemmer",)
    NOT_HASHED: ClassVar[tuple[str, ...]] = ("threads",)

    def __post_init__(self) -> None:
        if self.k1 < 0:
            raise ValueError(f"k1 must be >= 0, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise ValueError(f"b must be between 0 and 1, got {self.b}")
        if self.fb_terms < 1 or self.fb_docs < 1:
            raise ValueError("fb_terms and fb_docs must be >= 1")
        if not 0 <= self.original_query_weight <= 1:
            raise ValueError(f"original_query_weight must be between 0 and 1, got {self.original_query_weight}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.stemmer not in STEMMERS:
            raise ValueError(f"stemmer must be one of {', '.join(STEMMERS)}, got {self.stemmer!r}")


def _pyserini_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise RqbenchError(f"pyserini is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def anserini_jar() -> str:
    """File name of the Anserini fat jar Pyserini will load (honours $ANSERINI_CLASSPATH as Pyserini does)."""
    import os

    folder = Path(os.environ.get("ANSERINI_CLASSPATH") or _pyserini_dir() / "resources" / "jars")
    jars = sorted(folder.glob("anserini-*-fatjar.jar"), key=lambda p: p.stat().st_ctime)
    if not jars:
        raise RqbenchError(f"no anserini-*-fatjar.jar in {folder}; reinstall pyserini")
    return jars[-1].name  # Pyserini picks the newest by ctime too


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic GC while pyjnius turns k x |queries| Java hits into Python objects.

    Hundreds of thousands of live proxies make every generational collection rescan them all; measured
    on SciFact (1,109 queries x 1,000 hits) this is ~25% of the search time. Nothing made in here is
    cyclic garbage (refcounting frees it), and the previous GC state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _is_lucene_index(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("segments_*"))


class BM25Backend:
    """Retriever: Anserini BM25 (+ optional RM3) via Pyserini's LuceneSearcher."""

    name: ClassVar[str] = "bm25"
    Params: ClassVar[type] = BM25Params

    def __init__(self, params: BM25Params | None = None) -> None:
        self.params = params if params is not None else BM25Params()

    def describe(self) -> dict[str, Any]:
        from rqbench.javaenv import java_info

        try:
            pyserini_version = version("pyserini")
        except PackageNotFoundError:
            raise RqbenchError(f"pyserini is not installed: {INSTALL_HINT}") from None
        return {"pyserini": pyserini_version, "anserini": anserini_jar(), "java": java_info()["version"]}

    # ---- indexing ------------------------------------------------------------------------------------

    def _write_json(self, corpus: Sequence[Doc], folder: Path) -> None:
        """One JSONL file per thread: Anserini parallelises over files (one thread per file)."""
        folder.mkdir(parents=True, exist_ok=False)
        n_files = max(1, min(self.params.threads, len(corpus)))
        handles = [
            (folder / f"docs{i:03d}.jsonl").open("w", encoding="utf-8") for i in range(n_files)
        ]
        try:
            for i, doc in enumerate(corpus):
                record = {"id": doc.id, "contents": doc.contents()}
                handles[i * n_files // len(corpus)].write(json.dumps(record, ensure_ascii=False) + "\n")
        finally:
            for handle in handles:
                handle.close()

    def index(self, corpus: Sequence[Doc], workdir: Path) -> None:
        workdir = Path(workdir)
        if not corpus:
            raise RqbenchError("cannot build a BM25 index of an empty corpus")
        seen: set[str] = set()
        for doc in corpus:
            if doc.id in seen:
                raise RqbenchError(f"document id '{doc.id}' appears twice in the corpus")
            seen.add(doc.id)
        workdir.mkdir(parents=True, exist_ok=True)
        prepare_pyserini()
        from jnius import JavaException
        from pyserini.pyclass import autoclass

        json_dir = workdir / JSON_SUBDIR
        shutil.rmtree(json_dir, ignore_errors=True)
        try:
            self._write_json(corpus, json_dir)
            args = autoclass("io.anserini.index.IndexCollection$Args")()
            args.collectionClass = "JsonCollection"
            args.generatorClass = "DefaultLuceneDocumentGenerator"
            args.input = str(json_dir)
            args.index = str(workdir)
            args.threads = self.params.threads
            args.stemmer = self.params.stemmer
            args.storePositions = True
            args.storeDocvectors = True  # RM3 reads the document vectors
            args.quiet = True
            try:
                indexer = autoclass("io.anserini.index.IndexCollection")(args)
                indexer.run()
                counters = indexer.getCounters()
            except JavaException as exc:
                raise RqbenchError(f"Anserini could not build the index in {workdir}: {exc}") from None
            indexed, errors = counters.indexed.get(), counters.errors.get()
            if errors or not indexed:
                raise RqbenchError(
                    f"Anserini indexed {indexed} of {len(corpus)} documents ({errors} errors, "
                    f"{counters.empty.get()} empty) in {workdir}"
                )
        finally:
            shutil.rmtree(json_dir, ignore_errors=True)

    # ---- search --------------------------------------------------------------------------------------

    def search(self, index_dir: Path, queries: Sequence[Query], k: int) -> Run:
        index_dir = Path(index_dir)
        if k < 1:
            raise RqbenchError(f"k must be >= 1, got {k}")
        if not _is_lucene_index(index_dir):
            raise RqbenchError("no Lucene index here (build it with index() first)", index_dir)
        qids = [q.id for q in queries]
        if len(set(qids)) != len(qids):  # batch_search keys its results by query id
            dup = next(qid for qid, count in Counter(qids).items() if count > 1)
            raise RqbenchError(f"query id '{dup}' appears twice")
        if not queries:
            return {}
        prepare_pyserini()
        from pyserini.search.lucene import LuceneSearcher

        p = self.params
        searcher = LuceneSearcher(str(index_dir))
        try:
            searcher.set_bm25(p.k1, p.b)
            if p.stemmer != "porter":  # LuceneSearcher's default analyzer is Porter-stemmed English
                from pyserini.pyclass import autoclass

                analyzer = autoclass("io.anserini.analysis.DefaultEnglishAnalyzer")
                # the same call IndexCollection makes for `-stemmer`, so query and index terms agree
                searcher.set_analyzer(analyzer.fromArguments(p.stemmer, False, None))
            if p.rm3:
                try:
                    searcher.set_rm3(p.fb_terms, p.fb_docs, p.original_query_weight)
                except TypeError as exc:  # index without document vectors
                    raise RqbenchError(f"cannot use RM3: {exc}", index_dir) from None
            with _gc_paused():
                hits = searcher.batch_search([q.text for q in queries], qids, k=k, threads=p.threads)
                run = {
                    qid: sort_ranking(ScoredDoc(str(h.docid), float(h.score)) for h in hits.get(qid, ()))
                    for qid in qids
                }
                del hits  # frees the pyjnius proxies (and their Java references) by refcount
        finally:
            searcher.close()
        return run
