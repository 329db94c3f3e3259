"""envs/*.yaml, the conda environments of the rule families, agree with pyproject.toml: the same exact
pins, nothing unpinned, and each holds every third-party package its rules' scripts import."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for dep in project["dependencies"]:
        m = PIN.match(dep)
        assert m, f"pyproject.toml dependency {dep!r} is not an exact pin"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def _env(path: Path) -> tuple[dict, dict[str, str], list[str]]:
    """(the parsed file, its pip pins by normalised name, the rules its `# rules:` header names)."""
    text = path.read_text()
    env = yaml.safe_load(text)
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert len(pip) == 1 and set(pip[0]) == {"pip"}, f"{path.name}: one pip: section expected"
    pins = {}
    for entry in pip[0]["pip"]:
        m = PIN.match(entry)
        assert m, f"{path.name}: {entry!r} is not an exact pin (name==version)"
        pins[_norm(m.group(1))] = m.group(2)
    header = re.search(r"^# rules: (.+)$", text, re.M)
    assert header, f"{path.name}: first line '# rules: <rule>, ...' names the rules it serves"
    return env, pins, [r.strip() for r in header.group(1).split(",")]


def _rule_directive(directive: str) -> dict[str, Path]:
    """Rule name -> the file its ``script:`` or ``conda:`` directive names, from rules/*.smk."""
    found = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            value = re.search(rf"^    {directive}:\s*\n\s+\"([^\"]+)\"", block, re.M)
            if value:
                found[name] = (smk.parent / value.group(1)).resolve()
    return found


def _rule_scripts() -> dict[str, Path]:
    return _rule_directive("script")


def _third_party_imports(script: Path) -> set[str]:
    """Top-level third-party modules the script imports, directly or through any humanrecon module
    (every import statement, including those inside functions)."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    seen: set[Path] = set()
    found: set[str] = set()

    def module_files(name: str) -> list[Path]:
        parts = name.split(".")
        files = []
        for i in range(1, len(parts) + 1):  # a module imports its parent packages too
            base = ROOT.joinpath(*parts[:i])
            for f in (base / "__init__.py", base.with_suffix(".py")):
                if f.is_file():
                    files.append(f)
        return files

    def visit(path: Path, package: str) -> None:
        if path in seen:
            return
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "humanrecon":
                    for f in module_files(name):
                        visit(f, ".".join(f.relative_to(ROOT).parts[:-1]))  # the package relative imports start from
                elif top and top not in stdlib:
                    found.add(top)

    visit(script, "")
    return found


def test_there_are_environments():
    assert {p.stem for p in ENV_FILES} >= {"body_model", "synth", "reconstruction", "evaluation"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_equal_pyproject(path):
    pyproject = _pyproject_pins()
    env, pins, _ = _env(path)
    assert env["name"].startswith("humanrecon-") and env["channels"]
    conda = sorted(d for d in env["dependencies"] if isinstance(d, str))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert conda == ["pip", "python=3.11"] and ">=3.11,<3.12" == requires, (conda, requires)
    for name, version in pins.items():
        assert name in pyproject, f"{path.name}: {name} is not a dependency in pyproject.toml"
        assert version == pyproject[name], f"{path.name}: {name}=={version}, pyproject.toml pins {pyproject[name]}"


def test_every_named_rule_exists_and_has_one_environment():
    scripts = _rule_scripts()
    owners: dict[str, str] = {}
    for path in ENV_FILES:
        for rule in _env(path)[2]:
            assert rule in scripts, f"{path.name} names rule {rule!r}, which has no script: in rules/*.smk"
            assert rule not in owners, f"rule {rule} is in {owners.get(rule)} and {path.name}"
            owners[rule] = path.name
    for rule in ("body_model", "synth_session", "calibration", "segmentation", "occupancy", "meshing", "metrics", "metrics_table", "report_figures"):
        assert rule in owners, f"rule {rule} has no environment in envs/"


def test_conda_directives_name_the_environment_of_their_rule():
    """`conda:` is only used with --sdm conda (docs/cluster.md); it must point at the env naming the rule."""
    directives = _rule_directive("conda")
    assert directives, "no rule has a conda: directive"
    for rule, path in directives.items():
        assert path.is_file(), f"rule {rule}: conda env {path} does not exist"
        assert rule in _env(path)[2], f"rule {rule} uses {path.name}, whose '# rules:' header does not name it"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_holds_what_its_rules_import(path):
    _, pins, rules = _env(path)
    scripts = _rule_scripts()
    dists = packages_distributions()
    for rule in rules:
        for module in sorted(_third_party_imports(scripts[rule])):
            if module == "snakemake":  # the running Snakemake provides it to every script
                continue
            assert module in dists, f"{module} (imported by rule {rule}) is not installed"
            assert {_norm(d) for d in dists[module]} & set(pins), f"{path.name}: rule {rule} imports {module} ({dists[module]}), not in the env"
