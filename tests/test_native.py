"""The verifier's hot path compiled with mypyc (decisions 0047, 0051): used when built, never when stale.

Where this machine built it (``make native``, part of ``make test``), the whole suite runs on the
compiled modules; here we check that it does, that a build no longer matching its sources is not
used, and that compiled and plain Python give the same report for every presentation of a corpus of
good and damaged ones, the same concluded submission and the same policy outcome.
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from service import native
from service.passport import policy, presentation
from tests.passport import native_parity

BUILT = native.check()


def _require_build() -> None:
    if not (native.BUILD_DIR / native.MANIFEST).exists():
        pytest.skip(f"the compiled hot path is not built on this machine: {BUILT.reason}")
    if not BUILT.active and os.environ.get(native.ENV_SWITCH) is None:
        pytest.fail(f"the compiled hot path exists but is not used: {BUILT.reason}")
    if not BUILT.active:
        pytest.skip(f"the compiled hot path is switched off: {BUILT.reason}")


def test_the_suite_runs_on_the_compiled_modules_when_they_are_built() -> None:
    _require_build()
    state = native.state()
    assert state.active, state.reason
    for name in native.MODULES:
        assert sys.modules[name].__file__ == str(state.libraries[name])
    assert presentation.__file__ is not None
    assert not presentation.__file__.endswith(".py")


def _fake_build(tmp_path: Path, root: Path = native.ROOT, **changes: object) -> Path:
    """A build folder whose manifest records the sources as they are (or as ``changes`` say)."""
    build = tmp_path / "native"
    build.mkdir(parents=True)
    libraries = {}
    for name in (*native.MODULES, f"{native.GROUP}__mypyc"):
        library = build / f"{name}.so"
        library.write_bytes(b"not loaded by this test")
        libraries[name] = library.name
    manifest = {
        "platform": native._platform(),
        "built": "2026-12-01T00:00:00Z",
        "sources": {name: native._digest(native.source_path(name, root)) for name in native.MODULES},
        "libraries": libraries,
        **changes,
    }
    (build / native.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return build


def test_a_build_matching_every_source_is_used(tmp_path: Path) -> None:
    state = native.check(_fake_build(tmp_path))
    assert state.active, state.reason
    assert set(state.libraries) == {*native.MODULES, f"{native.GROUP}__mypyc"}


@pytest.mark.parametrize("module", native.MODULES)
def test_one_changed_source_turns_the_whole_build_off(tmp_path: Path, module: str) -> None:
    root = tmp_path / "checkout"
    for name in native.MODULES:
        copy = native.source_path(name, root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(native.source_path(name).read_bytes())
    build = _fake_build(tmp_path, root)
    assert native.check(build, root).active
    edited = native.source_path(module, root)
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")
    state = native.check(build, root)
    assert not state.active
    assert state.libraries == {}
    assert f"{edited.relative_to(root)} changed since the build" in state.reason


def test_a_build_of_the_earlier_module_set_is_not_used(tmp_path: Path) -> None:
    build = _fake_build(tmp_path)
    manifest = json.loads((build / native.MANIFEST).read_text(encoding="utf-8"))
    del manifest["sources"]["service.verification.outcome"]  # as built before decision 0051
    (build / native.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    state = native.check(build)
    assert not state.active
    assert "another module set" in state.reason


@pytest.mark.parametrize("module", native.MODULES)
def test_no_compiled_module_defines_a_msgspec_struct(module: str) -> None:
    """mypyc keeps only the outer type of a class's fields (``list``, not ``list[str | None]``), and
    msgspec validates by them: a struct defined in a compiled module would accept bad members."""
    loaded = importlib.import_module(module)
    defined = [
        name
        for name, value in vars(loaded).items()
        if isinstance(value, type) and issubclass(value, msgspec.Struct) and value.__module__ == module
    ]
    assert defined == []


def test_a_policy_need_is_checked_member_by_member() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.path\[0\]"):
        msgspec.convert({"credential_type": "core_skills", "path": [1]}, policy.ClaimNeed)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.where"):
        msgspec.convert({"credential_type": "core_skills", "path": [], "where": {"a": 1}}, policy.ClaimNeed)


def test_a_build_for_another_python_or_with_a_library_missing_is_not_used(tmp_path: Path) -> None:
    other = native.check(_fake_build(tmp_path / "a", platform={"python": "3.99", "ext_suffix": ".so"}))
    assert not other.active
    assert "another Python" in other.reason
    build = _fake_build(tmp_path / "b")
    (build / "service.jws.so").unlink()
    missing = native.check(build)
    assert not missing.active
    assert "missing" in missing.reason


def test_no_build_and_the_switch_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "no compiled build" in native.check(tmp_path / "nothing").reason
    monkeypatch.setenv(native.ENV_SWITCH, "false")
    build = _fake_build(tmp_path)
    assert native.check(build).reason == "PASSPORT_NATIVE=false"
    assert native.check(build, switch=False).active  # the build itself is up to date: not rebuilt


def test_compiled_and_python_verifiers_agree_on_every_presentation(tmp_path: Path) -> None:
    _require_build()
    data = native_parity.corpus()
    ours = native_parity.verdicts(data)
    environment = {**os.environ, native.ENV_SWITCH: "false"}
    run = subprocess.run(
        [sys.executable, "-m", "tests.passport.native_parity"],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        cwd=native.ROOT,
        env=environment,
        check=True,
        timeout=300,
    )
    theirs = json.loads(run.stdout)
    assert ours["native"] is True
    assert theirs["native"] is False
    assert len(ours["presentations"]) == len(data["presentations"]) * len(native_parity.VARIANTS)
    # the corpus reaches the verdicts that matter, so agreeing means something
    codes = {result["code"] for result in ours["presentations"]}
    assert {None, "malformed", "bad_signature", "kb_wrong_sd_hash", "expired", "revoked"} <= codes
    assert {"kb_stale", "kb_wrong_nonce", "kb_wrong_audience", "kb_nonce_unchecked"} <= codes
    assert {token[0] for token in ours["tokens"]} == {"ok", "error"}
    assert {result["code"] for result in ours["recorded"]} == {None, "kb_nonce_replayed", "kb_wrong_sd_hash"}
    verdicts = {day["verdict"] for conclusion in ours["conclusions"] for day in conclusion}
    assert verdicts == {"valid", "not_compliant", "invalid"}
    assert {outcome["passed"] for outcome, _ in ours["policies"]} == {True, False}
    json_ours = json.loads(json.dumps(ours))  # the same JSON round trip as theirs
    for part in ("presentations", "recorded", "conclusions", "policies"):
        for index, (mine, other) in enumerate(zip(json_ours[part], theirs[part], strict=True)):
            assert mine == other, f"{part} {index} differs"
    assert json_ours["tokens"] == theirs["tokens"]


def test_without_a_c_compiler_the_build_says_so_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "no-such-compiler")
    before = sorted(native.BUILD_DIR.rglob("*")) if native.BUILD_DIR.exists() else []
    code, line = native.command("build", force=True)
    assert code == 0
    assert line.startswith("native build skipped: no C compiler (no-such-compiler) on PATH")
    assert native.command("build", force=True, strict=True)[0] == 1
    after = sorted(native.BUILD_DIR.rglob("*")) if native.BUILD_DIR.exists() else []
    assert after == before
