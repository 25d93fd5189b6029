"""BM25 (optionally with RM3) through Pyserini/Anserini, in-process over pyjnius.

Indexing writes the corpus as an Anserini JsonCollection ({"id", "contents"}, contents exactly
`Doc.contents()`, i.e. title + " " + text as BEIR/Pyserini's "flat" indexes do) into a temporary
subfolder of `workdir`, runs Anserini's IndexCollection on it (positions and document vectors stored, as
RM3 needs), and deletes the JSON. The Lucene index files sit directly in `workdir`, which is also the
`index_dir` that `search` takes.

Pyserini is imported only inside the methods, after `rqbench.javaenv.prepare_pyserini()`, so importing
this module is cheap and never starts a JVM.

No document is lost silently. Anserini's JSON reader (Jackson) refuses a string over 20,000,000
characters, and it does not fail alone: a JsonCollection file is read one record ahead, so the exception
escapes while the *previous* document is being handed out, and the indexer thread then abandons the rest
of that file; Anserini logs it and counts no error. So documents over the limit are never written to the
collection, and after indexing the number of documents in the index is compared with the number written
(less the empty ones, which Anserini skips by design and BM25 could never retrieve); on a difference,
every written id is looked up in the index to name the missing ones. Unindexed documents are an error
naming them, or with `on_unindexed = "warn"` one warning line and `unindexed.json` in the index folder
(searches of such an index warn again, once per index).
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar, Literal

from rqbench.errors import RqbenchError
from rqbench.javaenv import INSTALL_HINT, java_heap_bytes, prepare_pyserini
from rqbench.types import Doc, Query, Run, ScoredDoc, sort_ranking

STEMMERS = ("porter", "krovetz", "none")
JSON_SUBDIR = "rqbench-jsoncollection-tmp"  # no leading "_": Lucene owns names like "_0.si" in workdir
UNINDEXED_FILE = "unindexed.json"  # with on_unindexed = "warn": the documents the index lacks, and why
JSON_STRING_LIMIT = 20_000_000  # Jackson's default max string length (chars), when it cannot be asked
NAMED_IN_MESSAGES = 10  # ids named in a one-line message; unindexed.json lists them all
_JAVA_TRIM = "".join(chr(c) for c in range(33))  # what Java's String.trim() removes
_warned_indexes: set[str] = set()

Unindexed = tuple[str, str, str]
"""(document id, why it is not in the index, a detail such as its length or "")."""


@dataclass(frozen=True)
class BM25Params:
    """BM25 parameters. The defaults k1=0.9, b=0.4 are Pyserini's (and its BEIR figures');
    k1=0.82, b=0.68 are the values tuned on MS MARCO passage.

    `stemmer` decides the index (porter, krovetz or none); `threads` changes speed only.
    The RM3 fields (fb_terms, fb_docs, original_query_weight) only matter when `rm3` is true.
    `on_unindexed`: what a document Anserini could not index does, "error" (the default) or "warn"
    (the index is kept without it, listed in the index's unindexed.json); it decides the index.
    `java_heap` ("2g"): the JVM's max heap, set before the process's JVM starts (the first bound wins;
    `$RQBENCH_JAVA_HEAP` when unset); memory only, never results.
    """

    k1: float = 0.9
    b: float = 0.4
    rm3: bool = False
    fb_terms: int = 10
    fb_docs: int = 10
    original_query_weight: float = 0.5
    threads: int = 2
    stemmer: str = "porter"
    on_unindexed: Literal["error", "warn"] = "error"
    java_heap: str | None = None

    INDEX_FIELDS: ClassVar[tuple[str, ...]] = ("stemmer", "on_unindexed")
    NOT_HASHED: ClassVar[tuple[str, ...]] = ("threads", "java_heap")

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
        if self.on_unindexed not in ("error", "warn"):
            raise ValueError(f"on_unindexed must be 'error' or 'warn', got {self.on_unindexed!r}")
        if self.java_heap is not None:
            try:
                java_heap_bytes(self.java_heap)
            except ValueError as exc:
                raise ValueError(f"java_heap: {exc}") from None


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
    """Retriever: Anserini BM25 (+ optional RM3): the SimpleSearcher that Pyserini's LuceneSearcher wraps, called
    directly through pyserini.pyclass (importing pyserini.search.lucene also imports torch, transformers and
    scikit-learn: seconds of start-up that BM25 retrieval does not use)."""

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

    def _write_json(self, corpus: Sequence[Doc], folder: Path, limit: int) -> tuple[list[str], list[Unindexed]]:
        """One JSONL file per thread: Anserini parallelises over files (one thread per file).

        Returns (ids written with a non-empty text, the documents left out). Documents
        longer than `limit` characters (Java's: UTF-16 units) are left out: Anserini's JSON reader would
        fail on them and take their neighbours down with them.
        """
        folder.mkdir(parents=True, exist_ok=False)
        n_files = max(1, min(self.params.threads, len(corpus)))
        handles = [
            (folder / f"docs{i:03d}.jsonl").open("w", encoding="utf-8") for i in range(n_files)
        ]
        written: list[str] = []
        left_out: list[Unindexed] = []
        try:
            for i, doc in enumerate(corpus):
                contents = doc.contents()
                length = _java_length(contents, limit)
                if length > limit:
                    left_out.append((doc.id, f"longer than the {limit:,} characters Anserini's JSON reader "
                                     "accepts", f"{length:,} characters"))
                    continue
                record = {"id": doc.id, "contents": contents}
                handles[i * n_files // len(corpus)].write(json.dumps(record, ensure_ascii=False) + "\n")
                if contents.strip(_JAVA_TRIM):  # Anserini skips (and counts) documents with no text
                    written.append(doc.id)
        finally:
            for handle in handles:
                handle.close()
        return written, left_out

    def index(self, corpus: Sequence[Doc], workdir: Path) -> None:
        workdir = Path(workdir)
        if not corpus:
            raise RqbenchError("cannot build a BM25 index of an empty corpus")
        seen: set[str] = set()
        for doc in corpus:
            if doc.id in seen:
                raise RqbenchError(f"document id '{doc.id}' appears twice in the corpus")
            seen.add(doc.id)
        del seen
        workdir.mkdir(parents=True, exist_ok=True)
        prepare_pyserini(self.params.java_heap)
        from jnius import JavaException
        from pyserini.pyclass import autoclass

        json_dir = workdir / JSON_SUBDIR
        shutil.rmtree(json_dir, ignore_errors=True)
        try:
            written, unindexed = self._write_json(corpus, json_dir, _json_string_limit(autoclass))
            if unindexed and self.params.on_unindexed == "error":  # fail before the (long) indexing
                raise RqbenchError(_unindexed_message(unindexed, len(corpus), "cannot be indexed"))
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
        finally:
            shutil.rmtree(json_dir, ignore_errors=True)
        in_index, lost = _missing_from_index(workdir, written, autoclass)
        unindexed += [(docid, "lost by Anserini's indexer, whose log says why", "") for docid in lost]
        if not lost and (errors or in_index != len(written)):  # cannot name them: say so rather than guess
            raise RqbenchError(f"the index holds {in_index} documents where {len(written)} were expected "
                               f"(Anserini: {indexed} indexed, {errors} errors) in {workdir}")
        if in_index == 0:
            why = (_unindexed_message(unindexed, len(corpus), "were not indexed", hint=False) if unindexed
                   else f"all {_documents(len(corpus))} are empty")
            raise RqbenchError(f"the BM25 index would hold no document: {why}")
        if not unindexed:
            return
        if self.params.on_unindexed == "error":
            raise RqbenchError(_unindexed_message(unindexed, len(corpus), "were not indexed"))
        record = {
            "corpus": len(corpus),
            "unindexed": len(unindexed),
            "documents": [
                {"id": docid, "reason": f"{reason}: {detail}" if detail else reason}
                for docid, reason, detail in unindexed
            ],
        }
        (workdir / UNINDEXED_FILE).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", "utf-8")
        _warned_indexes.add(str(workdir.resolve()))
        _warn(f"{_unindexed_message(unindexed, len(corpus), 'were not indexed', hint=False)}; the index is "
              f"built without them (on_unindexed = \"warn\"), all listed in {UNINDEXED_FILE} in the index folder")

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
        self._check_unindexed(index_dir)
        prepare_pyserini(self.params.java_heap)
        from jnius import JavaException
        from pyserini.pyclass import JArrayList, autoclass

        p = self.params
        searcher = autoclass("io.anserini.search.SimpleSearcher")(str(index_dir))
        try:
            searcher.set_bm25(float(p.k1), float(p.b))
            if p.stemmer != "porter":  # the searcher's default analyzer is Porter-stemmed English
                analyzer = autoclass("io.anserini.analysis.DefaultEnglishAnalyzer")
                # the same call IndexCollection makes for `-stemmer`, so query and index terms agree
                searcher.set_analyzer(analyzer.fromArguments(p.stemmer, False, None))
            if p.rm3:
                if not searcher.reader.getTermVectors(0):
                    raise RqbenchError("cannot use RM3: the index has no document vectors", index_dir)
                searcher.set_rm3(None, p.fb_terms, p.fb_docs, float(p.original_query_weight), False, True)
            with _gc_paused():
                jq, jid = JArrayList(), JArrayList()
                for q in queries:
                    jq.add(q.text)
                    jid.add(q.id)
                try:
                    result = searcher.batch_search(jq, jid, int(k), int(p.threads))
                except JavaException as exc:
                    raise RqbenchError(_search_failure(exc, len(queries), k), index_dir) from None
                hits = {e.getKey(): e.getValue() for e in result.entrySet().toArray()}
                run = {
                    qid: sort_ranking(ScoredDoc(str(h.docid), float(h.score)) for h in hits.get(qid, ()))
                    for qid in qids
                }
                del hits  # frees the pyjnius proxies (and their Java references) by refcount
        finally:
            searcher.close()
        return run

    def _check_unindexed(self, index_dir: Path) -> None:
        """An index that lacks documents (built with on_unindexed = "warn") warns once per process, and
        is refused when these params say "error"."""
        listing = index_dir / UNINDEXED_FILE
        if not listing.is_file():
            return
        try:
            count = int(json.loads(listing.read_text(encoding="utf-8"))["unindexed"])
        except (OSError, ValueError, KeyError, TypeError):
            raise RqbenchError("cannot read this index's list of unindexed documents", listing) from None
        if self.params.on_unindexed == "error":
            raise RqbenchError(f"this index lacks {_documents(count)} (built with on_unindexed = \"warn\"), and "
                               "these BM25 params say on_unindexed = \"error\"", listing)
        key = str(index_dir.resolve())
        if key not in _warned_indexes:
            _warned_indexes.add(key)
            _warn(f"searching a BM25 index that lacks {_documents(count)} of its corpus (listed in {listing})")


def _search_failure(exc: Exception, n_queries: int, k: int) -> str:
    """One line for a failed batch search. Anserini runs each query as a task and, when one dies (an
    OutOfMemoryError in a bounded heap, typically), only reports that fewer tasks completed."""
    from rqbench.javaenv import jvm_max_heap

    name = getattr(exc, "classname", None) or type(exc).__name__
    inner = (str(getattr(exc, "innermessage", None) or "").strip().splitlines() or [""])[0]
    detail = f"{name}: {inner}" if inner else name
    max_heap = jvm_max_heap()
    heap = f"{max_heap / 2**20:,.0f} MiB" if max_heap else "unknown"
    return (f"Anserini's batch search of {n_queries} queries (k={k}) failed: {detail}; if the JVM ran out of "
            f"memory (max heap {heap}), raise java_heap or $RQBENCH_JAVA_HEAP, or search fewer queries at once")


def _documents(count: int) -> str:
    return f"{count} document" if count == 1 else f"{count} documents"


def _warn(message: str) -> None:
    print(f"rqbench: warning: {message}", file=sys.stderr, flush=True)


def _java_length(text: str, limit: int) -> int:
    """len() of `text` as a Java String (UTF-16 units), exact whenever it could exceed `limit`."""
    if len(text) * 2 <= limit or len(text) > limit:
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _json_string_limit(autoclass: Any) -> int:
    """The longest string Anserini's JSON reader accepts (Jackson's StreamReadConstraints default)."""
    try:
        constraints = autoclass("com.fasterxml.jackson.core.StreamReadConstraints")
        return int(constraints.defaults().getMaxStringLength())
    except Exception:  # an Anserini whose Jackson predates the limit, or shades it elsewhere
        return JSON_STRING_LIMIT


def _missing_from_index(workdir: Path, expected: list[str], autoclass: Any) -> tuple[int, list[str]]:
    """(documents in the Lucene index in `workdir`, the ids of `expected` it lacks, in corpus order).

    When the counts agree, that is all (one call: a document cannot be in the index twice, ids are
    unique in the collection); otherwise every expected id is looked up in the index's id field.
    """
    from jnius import cast

    directory = autoclass("org.apache.lucene.store.FSDirectory").open(autoclass("java.io.File")(str(workdir)).toPath())
    try:
        reader = autoclass("org.apache.lucene.index.DirectoryReader").open(directory)
        try:
            in_index = int(reader.numDocs())
            if in_index == len(expected):
                return in_index, []
            terms = autoclass("org.apache.lucene.index.MultiTerms").getTerms(
                cast("org.apache.lucene.index.IndexReader", reader), "id"  # Anserini's id field
            )
            if terms is None:
                return in_index, list(expected)
            lookup = terms.iterator()
            bytes_ref = autoclass("org.apache.lucene.util.BytesRef")
            return in_index, [docid for docid in expected if not lookup.seekExact(bytes_ref(docid.encode("utf-8")))]
        finally:
            reader.close()
    finally:
        directory.close()


def _unindexed_message(unindexed: list[Unindexed], total: int, verb: str, hint: bool = True) -> str:
    """One line: how many, then the first few ids, grouped by why."""
    groups: dict[str, list[str]] = {}
    for docid, reason, detail in unindexed[:NAMED_IN_MESSAGES]:
        groups.setdefault(reason, []).append(f"'{docid}' with {detail}" if detail else f"'{docid}'")
    named = "; ".join(f"{', '.join(ids)} ({reason})" for reason, ids in groups.items())
    more = f"; and {len(unindexed) - NAMED_IN_MESSAGES} more" if len(unindexed) > NAMED_IN_MESSAGES else ""
    fix = '; set on_unindexed = "warn" to build the index without them' if hint else ""
    return f"{len(unindexed)} of {_documents(total)} {verb}: {named}{more}{fix}"
