"""The verifier's hot path compiled with mypyc, used only while it matches the source (decision 0047).

The four pure modules every presentation goes through (:data:`MODULES`: JWS, SD-JWT, status lists
and the presentation verifier) are compiled to C extension modules by mypyc, the compiler that ships
with mypy: the same type-checked Python, run without the interpreter's dispatch. ``make run`` and
``make test`` build them (``passport native build``) into ``build/native/`` beside the
checkout, never next to the sources, with a manifest of the SHA-256 of each source file.

:func:`install` (called when :mod:`service` is imported) puts a finder first on ``sys.meta_path``
that loads the compiled modules only when the whole build matches: the same sources, byte for byte,
the same Python and platform. One edited source file and the whole set falls back to the Python
modules (a compiled module calls the others' compiled code directly, so a mix could run stale code);
:func:`state` says which is in use and why. ``PASSPORT_NATIVE=false`` (the setting ``native``) turns
the compiled build off. Without a C compiler the build is skipped with a message and everything runs
as plain Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

MODULES: Final = (
    "service.jws",
    "service.passport.sdjwt",
    "service.passport.status_list",
    "service.passport.presentation",
    "service.passport.policy",
    "service.verification.outcome",
)
"""The modules compiled, in dependency order (each imports only earlier ones of the set)."""
GROUP: Final = "passport_native"
"""mypyc's group name: the shared library of the set is the module ``passport_native__mypyc``."""
ROOT: Final = Path(__file__).resolve().parent.parent
"""The checkout (or the folder holding the ``service`` package)."""
BUILD_DIR: Final = ROOT / "build" / "native"
MANIFEST: Final = "manifest.json"
ENV_SWITCH: Final = "PASSPORT_NATIVE"
_EXT_SUFFIX: Final = sysconfig.get_config_var("EXT_SUFFIX") or ".so"


@dataclass(frozen=True, slots=True)
class NativeState:
    """Whether the compiled modules are in use, and why (or why not)."""

    active: bool
    reason: str
    libraries: dict[str, Path]
    """Module name to the extension file the finder loads (empty when not active)."""

    def describe(self) -> str:
        return f"compiled with mypyc ({self.reason})" if self.active else f"pure Python ({self.reason})"


def source_path(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _platform() -> dict[str, str]:
    return {"python": sys.version, "ext_suffix": _EXT_SUFFIX}


def check(build_dir: Path = BUILD_DIR, root: Path = ROOT, *, switch: bool = True) -> NativeState:
    """The state of the build in ``build_dir`` against the sources under ``root`` (``switch``: and
    whether ``PASSPORT_NATIVE`` allows it)."""
    if switch and os.environ.get(ENV_SWITCH, "true").strip().lower() in ("0", "false", "no", "off"):
        return NativeState(False, f"{ENV_SWITCH}=false", {})  # the setting `native`
    manifest_path = build_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return NativeState(False, "no compiled build: run `make native`", {})
    except (OSError, ValueError) as exc:
        return NativeState(False, f"unreadable manifest {manifest_path}: {exc}", {})
    if not isinstance(manifest, dict) or manifest.get("platform") != _platform():
        return NativeState(False, "the compiled build is for another Python: run `make native`", {})
    recorded = manifest.get("sources")
    libraries = manifest.get("libraries")
    if not isinstance(recorded, dict) or not isinstance(libraries, dict) or set(recorded) != set(MODULES):
        return NativeState(False, "the compiled build is of another module set: run `make native`", {})
    for module in MODULES:
        source = source_path(module, root)
        try:
            changed = _digest(source) != recorded[module]
        except OSError:
            changed = True
        if changed:
            return NativeState(
                False, f"{source.relative_to(root)} changed since the build: run `make native`", {}
            )
    found: dict[str, Path] = {}
    for name, relative in libraries.items():
        path = build_dir / str(relative)
        if not path.is_file():
            return NativeState(False, f"{path} is missing: run `make native`", {})
        found[str(name)] = path
    return NativeState(True, f"built {manifest.get('built', '?')}", found)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules (and mypyc's shared library of the set) in the build folder."""

    def __init__(self, libraries: dict[str, Path]) -> None:
        self.libraries = libraries

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        library = self.libraries.get(fullname)
        if library is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(library))
        return importlib.util.spec_from_file_location(fullname, library, loader=loader)


_state: NativeState | None = None


def install() -> NativeState:
    """Load the compiled modules from now on if the build matches the sources (once per process)."""
    global _state
    if _state is None:
        _state = check()
        if _state.active:
            if any(name in sys.modules for name in MODULES):
                _state = NativeState(False, "the Python modules were imported before the finder", {})
            else:
                sys.meta_path.insert(0, _Finder(_state.libraries))
    return _state


def state() -> NativeState:
    """What :func:`install` decided, with the modules actually loaded checked too."""
    decided = install()
    if not decided.active:
        return decided
    for name in MODULES:
        module = sys.modules.get(name)
        if module is not None and not str(getattr(module, "__file__", "")).endswith(_EXT_SUFFIX):
            return NativeState(False, f"{name} was loaded from its Python source", {})
    return decided


def build(build_dir: Path = BUILD_DIR, root: Path = ROOT, *, force: bool = False) -> str:
    """Compile :data:`MODULES` into ``build_dir`` unless it is up to date; returns what was done.

    Raises :class:`BuildUnavailable` when mypyc or a C compiler is missing.
    """
    current = check(build_dir, root, switch=False)  # up to date whether or not it is switched on
    if current.active and not force:
        return f"up to date ({current.reason})"
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise BuildUnavailable(f"no C compiler ({compiler}) on PATH")
    try:
        # build-time dependencies only (the `native` extra)
        from mypyc.build import mypycify
        from setuptools import Distribution
    except ImportError as exc:
        raise BuildUnavailable(f"mypyc or setuptools is not installed ({exc.name})") from exc
    sources = {module: _digest(source_path(module, root)) for module in MODULES}
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="native-", dir=build_dir.parent) as scratch:
        work = Path(scratch)
        out = work / "lib"
        previous = Path.cwd()
        os.chdir(root)  # mypyc names modules by their path from the working directory
        try:
            paths = [str(source_path(module, root).relative_to(root)) for module in MODULES]
            extensions = mypycify(paths, opt_level="3", group_name=GROUP, target_dir=str(work / "c"))
            distribution = Distribution({"name": GROUP, "ext_modules": extensions})
            command = distribution.get_command_obj("build_ext")
            command.build_lib = str(out)
            command.build_temp = str(work / "obj")
            distribution.run_command("build_ext")
        finally:
            os.chdir(previous)
        libraries = {
            ".".join(path.relative_to(out).parts)[: -len(_EXT_SUFFIX)]: str(path.relative_to(out))
            for path in out.rglob(f"*{_EXT_SUFFIX}")
        }
        missing = [name for name in (*MODULES, f"{GROUP}__mypyc") if name not in libraries]
        if missing:
            raise BuildFailed(f"mypyc built no library for {', '.join(missing)}")
        manifest = {
            "platform": _platform(),
            "built": _now(),
            "sources": sources,
            "libraries": libraries,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        # swap in the new build whole: a process starting meanwhile sees the old one or the new one
        old = work / "old"
        if build_dir.exists():
            build_dir.rename(old)
        out.rename(build_dir)
    return f"compiled {len(MODULES)} modules into {build_dir}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BuildUnavailable(RuntimeError):
    """This machine cannot compile (no mypyc, no C compiler): the Python modules are used."""


class BuildFailed(RuntimeError):
    """mypyc ran but did not produce the whole set."""


def command(action: str, *, force: bool = False, strict: bool = False) -> tuple[int, str]:
    """``passport native build|status``: the exit code and the line to print."""
    if action == "status":
        return 0, f"verifier hot path: {check().describe()}"
    try:
        done = build(force=force)
    except BuildUnavailable as exc:
        return (
            1 if strict else 0
        ), f"native build skipped: {exc}; the verifier runs as plain Python (slower)"
    except (Exception, SystemExit) as exc:  # a compiler error: say it, and run as plain Python
        return (1 if strict else 0), (
            f"native build FAILED ({type(exc).__name__}: {exc}); the verifier runs as plain Python (slower)"
        )
    return 0, f"native build: {done}"
