"""The installable package: a wheel built from the sources (no download), installed outside the checkout,
gives ``import textcnn`` and the ``textcnn`` command; its dependencies agree with the pinned requirements.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parent.parent
# what a build reads (a copy, so that building leaves no build/ folder in the checkout)
BUILD_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "app.py", "requirements.txt", "textcnn"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # the build backend installed here (requirements-test.txt), no index: nothing is downloaded
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", "--wheel-dir", str(dist), str(source)], check=True, timeout=300)
    (built,) = dist.glob("textcnn-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (its dependencies are this environment's)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    return target


def outside_env(target: Path) -> dict[str, str]:
    """An environment that finds textcnn only in ``target`` (run from a folder outside the checkout)."""
    return {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}


def test_the_wheel_holds_the_package_and_the_space_template_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {f"textcnn/{p.relative_to(REPO_ROOT / 'textcnn').as_posix()}" for p in (REPO_ROOT / "textcnn").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sources <= names
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("textcnn/space_template/app.py") == (REPO_ROOT / "app.py").read_bytes()
        assert archive.read("textcnn/space_template/requirements.txt") == (REPO_ROOT / "requirements.txt").read_bytes()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "textcnn = textcnn.cli:run" in entry_points
    packaged = {n for n in names if not n.startswith("textcnn-")}  # the .dist-info metadata aside
    assert packaged == sources | {"textcnn/space_template/app.py", "textcnn/space_template/requirements.txt"}


def test_the_installed_package_imports_and_its_command_runs_outside_the_checkout(installed, tmp_path):
    env = outside_env(installed)
    found = subprocess.run([sys.executable, "-c", "import textcnn, textcnn.cli, textcnn.space; print(textcnn.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).parent == installed / "textcnn"
    command = subprocess.run([str(installed / "bin" / "textcnn"), "--help"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert command.returncode == 0, command.stderr
    for subcommand in ("predict", "push", "space"):
        assert subcommand in command.stdout
    module = subprocess.run([sys.executable, "-m", "textcnn", "space", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert module.returncode == 0 and "--revision" in module.stdout, module.stderr


def test_the_installed_package_finds_its_space_template(installed, tmp_path):
    """``textcnn space`` from a wheel takes app.py and the pins from the package, not from a checkout."""
    code = ("from textcnn.space import template_file; "
            "print(template_file('app.py')); print(template_file('requirements.txt'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=outside_env(installed),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(installed / "textcnn" / "space_template" / name)
                                     for name in ("app.py", "requirements.txt")]


def pins(name: str) -> dict[str, Requirement]:
    """The exact pins of a requirements file (not those of the files it includes, nor options)."""
    found = {}
    for line in (REPO_ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith(("-", ".")):
            requirement = Requirement(line)
            found[requirement.name.lower().replace("_", "-")] = requirement
    return found


def declared(group: str | None) -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    requirements = (Requirement(line) for line in lines)
    return {r.name.lower().replace("_", "-"): r for r in requirements if r.name != "textcnn"}


@pytest.mark.parametrize("requirements, group", [
    ("requirements.txt", None), ("requirements-train.txt", "train"), ("requirements-test.txt", "test"),
])
def test_the_pinned_versions_satisfy_the_package_dependencies(requirements, group):
    """Each requirements file pins exactly the packages of its part of pyproject.toml, at versions it allows."""
    pinned, needed = pins(requirements), declared(group)
    assert set(pinned) == set(needed), f"{requirements} and pyproject.toml ({group or 'dependencies'}) list different packages"
    for name, pin in pinned.items():
        (version,) = [spec.version for spec in pin.specifier if spec.operator == "=="]
        assert needed[name].specifier.contains(version, prereleases=True), f"{name}=={version} is outside {needed[name]}"


def test_a_wheel_built_from_the_source_distribution_is_the_same(source, wheel, tmp_path):
    """``python -m build`` (and pip, given an sdist) builds the wheel from the sdist: it must carry app.py too."""
    build = [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"]
    made = subprocess.run(build, cwd=source, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    sdist = tmp_path / made.stdout.strip().splitlines()[-1]
    shutil.unpack_archive(sdist, tmp_path / "unpacked")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                    "--wheel-dir", str(tmp_path / "dist"), str(unpacked)], check=True, timeout=300)
    (rebuilt,) = (tmp_path / "dist").glob("textcnn-*.whl")
    assert sorted(zipfile.ZipFile(rebuilt).namelist()) == sorted(zipfile.ZipFile(wheel).namelist())
