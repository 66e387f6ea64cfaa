"""Fetch the Elasticsearch integ-test-zip (mvn, else HTTPS checked by sha1) and unpack it."""

from __future__ import annotations

import hashlib
import logging
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from logriver.esruntime.common import ES_VERSION, ElasticsearchRuntimeError, locked, make_dirs

log = logging.getLogger(__name__)

_GROUP = "org.elasticsearch.distribution.integ-test-zip"
_ARTIFACT = "elasticsearch"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def ensure_distribution(home: Path, maven_repo: str) -> Path:
    """Fetch (``maven_repo`` when mvn is absent) and unpack the ES zip under ``home``; return the ES home."""
    make_dirs(home)
    dist = home / f"elasticsearch-{ES_VERSION}"
    with locked(home / ".provision.lock"):
        if (dist / "bin" / "elasticsearch").is_file():
            return dist
        zip_path = _ensure_zip(home, maven_repo)
        _unpack(zip_path, dist)
    return dist


def _ensure_zip(home: Path, maven_repo: str) -> Path:
    make_dirs(home)
    target = home / f"elasticsearch-{ES_VERSION}.zip"
    if target.is_file() and _zip_ok(target):
        return target
    target.unlink(missing_ok=True)
    if shutil.which("mvn") and _fetch_with_mvn(target):
        return target
    _download(target, maven_repo)
    return target


def _artifact_path() -> str:
    return f"{_GROUP.replace('.', '/')}/{_ARTIFACT}/{ES_VERSION}/{_ARTIFACT}-{ES_VERSION}.zip"


def _fetch_with_mvn(target: Path) -> bool:
    """Resolve through mvn (its local repo, mirrors and proxies), copying the zip to ``target``."""
    log.info("fetching elasticsearch %s with mvn", ES_VERSION)
    staging = target.with_name(".mvn-download")
    shutil.rmtree(staging, ignore_errors=True)
    # dependency:copy writes straight to our dir, so we need not guess where a settings.xml
    # put the local repository; the plugin is pinned to a version whose copy goal needs no pom.
    cmd = [
        "mvn", "-q", "-B", f"{_DEPENDENCY_PLUGIN}:copy",
        f"-Dartifact={_GROUP}:{_ARTIFACT}:{ES_VERSION}:zip",
        f"-DoutputDirectory={staging}", "-Dmdep.overWriteReleases=true",
    ]  # fmt: skip
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        fetched = staging / target.name
        if result.returncode != 0 or not (fetched.is_file() and _zip_ok(fetched)):
            log.warning("mvn could not fetch elasticsearch, falling back to HTTPS:\n%s", result.stdout[-2000:])
            return False
        fetched.replace(target)
        return True
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(target: Path, maven_repo: str) -> None:
    url = f"{maven_repo.rstrip('/')}/{_artifact_path()}"
    log.info("downloading %s", url)
    partial = target.with_name(target.name + ".part")
    try:
        digest = _fetch_to_file(url, partial)
        expected = _expected_sha1(url)
        if expected is not None and expected != digest:
            raise ElasticsearchRuntimeError(f"sha1 mismatch for {url}: got {digest}, expected {expected}")
        if not _zip_ok(partial):
            raise ElasticsearchRuntimeError(f"downloaded file from {url} is not a valid zip")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _fetch_to_file(url: str, dest: Path) -> str:
    sha1 = hashlib.sha1()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            while chunk := response.read(1 << 20):
                sha1.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise ElasticsearchRuntimeError(f"cannot download {url}: {exc}") from exc
    return sha1.hexdigest()


def _expected_sha1(url: str) -> str | None:
    # Maven repositories publish <file>.sha1 next to each artifact; absent is tolerated.
    try:
        with urllib.request.urlopen(url + ".sha1", timeout=30) as response:
            text: str = response.read().decode("ascii", "replace")
    except (urllib.error.URLError, OSError):
        return None
    return text.split(maxsplit=1)[0].lower() if text.strip() else None


def _zip_ok(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def _unpack(zip_path: Path, dist: Path) -> None:
    """Extract into a temp dir then rename, so a half-unpacked tree is never used."""
    staging = dist.with_name(dist.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    top = f"elasticsearch-{ES_VERSION}/"
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.filename.startswith(top) and info.filename != top:
                _extract_member(zf, info, staging / info.filename[len(top) :])
    _make_world_readable(staging)
    shutil.rmtree(dist, ignore_errors=True)
    staging.rename(dist)


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    if ".." in Path(info.filename).parts:
        raise ElasticsearchRuntimeError(f"unsafe path in zip: {info.filename}")
    if info.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    # zipfile drops unix modes; the bin/ scripts need their exec bits back.
    mode = (info.external_attr >> 16) & 0o777
    if mode:
        dest.chmod(mode)


def _make_world_readable(root: Path) -> None:
    """chmod -R a+rX: the ES user must read the distribution even if root unpacked it."""
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        add = 0o555 if stat.S_ISDIR(mode) or mode & 0o111 else 0o444
        path.chmod(stat.S_IMODE(mode) | add)
