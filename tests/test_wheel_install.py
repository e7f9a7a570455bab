"""`pip install .` for real: the wheel holds every module and data file, and its install works on its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib.metadata import distributions
from pathlib import Path

import pytest
import yaml

from seamline.config import KafkaConfig
from seamline.subjects import delete_subjects

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("seamline", "producers", "processors", "sinks", "notify", "sandbox")
#: What a build reads, as the Dockerfile's build stage copies it.
SOURCES = ("pyproject.toml", "setup.py", "README.md", *PACKAGES, "schemas", "deploy")
EXAMPLE = ROOT / "examples" / "erp-to-warehouse.yaml"
#: The example's subjects (no topic prefix) -> the schema file each is checked with.
EXAMPLE_SUBJECTS = {
    "src.erp.customers-key": "source_key.avsc",
    "src.erp.customers-value": "change_event.avsc",
    "canonical.customer-key": "entity_key.avsc",
    "canonical.customer-value": "customer.avsc",
    "seamline.offsets-key": "position_key.avsc",
    "seamline.offsets-value": "position.avsc",
    "dq.customer-key": "source_key.avsc",
    "dq.customer-value": "data_quality.avsc",
    "seamline.decisions-key": "decision_key.avsc",
    "seamline.decisions-value": "decision.avsc",
}
#: Run by the installed interpreter: where its seamline and the data files it reads come from.
PROBE = """
import json
from importlib import import_module
from seamline.schemas import SCHEMA_DIR
from seamline.stack.layout import DEPLOY_DIR
from seamline.stack.prometheus import CONFIG_DIR

print(json.dumps({
    "modules": [
        import_module(name).__file__ for name in ("seamline", "producers", "processors", "sinks", "notify", "sandbox")
    ],
    "data_dirs": [str(SCHEMA_DIR), str(DEPLOY_DIR), str(CONFIG_DIR)],
    "schemas": sorted(path.name for path in SCHEMA_DIR.glob("*.avsc")),
    "deploy_local": sorted(str(path.relative_to(DEPLOY_DIR)) for path in DEPLOY_DIR.rglob("*") if path.is_file()),
    "prometheus": sorted(path.name for path in CONFIG_DIR.iterdir() if path.is_file()),
}))
"""


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, its output captured as text."""
    return subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=540, check=False
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """The result of a command that must have exited 0."""
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel` builds from a clean copy of the checkout (no build/ left from an earlier build)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    succeeded(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source], cwd=dist))
    (built,) = dist.glob("seamline-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its dependencies installed (at this environment's versions, so
    that pip resolves at once and takes them from its cache)."""
    home = tmp_path_factory.mktemp("install")
    constraints = home / "constraints.txt"
    constraints.write_text(
        "".join(f"{dist.name}=={dist.version}\n" for dist in distributions() if dist.name not in (None, "seamline"))
    )
    succeeded(run([sys.executable, "-m", "venv", home / "venv"], cwd=home))
    succeeded(run([home / "venv/bin/python", "-m", "pip", "install", "--constraint", constraints, wheel], cwd=home))
    return home / "venv"


@pytest.fixture(scope="module")
def outside(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A working directory outside the repository holding a copy of the example, and the environment of a
    user of the new virtualenv (no PYTHONPATH; the example's ${SECRETS} set)."""
    cwd = tmp_path_factory.mktemp("user")
    shutil.copy2(EXAMPLE, cwd / EXAMPLE.name)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env |= {
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        "COLUMNS": "200",
        "ERP_PASSWORD": "unused",
        "WAREHOUSE_PASSWORD": "unused",
    }
    return cwd, env


def test_the_wheel_holds_every_module_and_only_the_local_stacks_deploy_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sorted(modules - names) == [], "a module is missing from the wheel (setup.py finds the packages)"
    schemas = {f"seamline/avro_schemas/{path.name}" for path in (ROOT / "schemas").glob("*.avsc")}
    assert schemas and schemas <= names
    deploy = {name.removeprefix("seamline/deploy/") for name in names if name.startswith("seamline/deploy/")}
    local = {str(path.relative_to(ROOT / "deploy")) for path in (ROOT / "deploy/local").rglob("*") if path.is_file()}
    assert deploy == {"__init__.py", "prometheus/prometheus.yml", "prometheus/alerts.yml"} | local
    assert not any(name.startswith(("schemas/", "deploy/", "tests/")) for name in names), "no generic top-level package"


def test_the_install_runs_its_own_files(venv: Path, outside: tuple[Path, dict[str, str]]) -> None:
    cwd, env = outside
    probe = json.loads(succeeded(run([venv / "bin/python", "-c", PROBE], cwd=cwd, env=env)).stdout)
    site_packages = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for path in probe["modules"] + probe["data_dirs"]:
        assert Path(path).is_relative_to(site_packages), f"{path} is not the installed package's"
    assert probe["schemas"] == sorted(path.name for path in (ROOT / "schemas").glob("*.avsc"))
    local = ROOT / "deploy" / "local"
    assert probe["deploy_local"] == sorted(str(path.relative_to(local)) for path in local.rglob("*") if path.is_file())
    assert probe["prometheus"] == ["alerts.yml", "prometheus.yml"]
    assert not list(site_packages.glob("__editable__*")), "a real install, not an editable one"


def test_validate_from_outside_the_repository(venv: Path, outside: tuple[Path, dict[str, str]]) -> None:
    cwd, env = outside
    report = succeeded(run([venv / "bin/seamline", "validate", EXAMPLE.name], cwd=cwd, env=env)).stderr
    assert f"ok {EXAMPLE.name}: 1 source(s), a processor, 1 sink(s)" in report


@pytest.fixture
def prefixed_example(kafka: KafkaConfig, outside: tuple[Path, dict[str, str]]) -> Iterator[Path]:
    """The example on the local stack with a topic prefix of this test's own; its subjects deleted afterwards."""
    cwd, _ = outside
    config = yaml.safe_load(EXAMPLE.read_text())
    config["kafka"] |= {
        "bootstrap_servers": kafka.bootstrap_servers,
        "schema_registry_url": kafka.schema_registry_url,
        "topic_prefix": kafka.topic_prefix,
    }
    path = cwd / f"{kafka.topic_prefix}yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    yield path
    delete_subjects(kafka, {kafka.topic_prefix + subject.rpartition("-")[0] for subject in EXAMPLE_SUBJECTS})


def test_schemas_push_and_check_read_the_installed_schemas(
    kafka: KafkaConfig, prefixed_example: Path, venv: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    cwd, env = outside
    pushed = succeeded(
        run([venv / "bin/seamline", "schemas", "push", "-c", prefixed_example.name], cwd=cwd, env=env)
    ).stdout
    assert sorted(line.partition(":")[0] for line in pushed.splitlines()) == sorted(
        kafka.topic_prefix + subject for subject in EXAMPLE_SUBJECTS
    ), pushed
    checked = succeeded(
        run([venv / "bin/seamline", "schemas", "check", "-c", prefixed_example.name], cwd=cwd, env=env)
    ).stdout
    rows = [[cell.strip() for cell in line.split("│")[1:4]] for line in checked.splitlines() if line.count("│") == 4]
    # each schema file read from the installed package and compared with the version just registered
    assert sorted(rows) == sorted(
        [kafka.topic_prefix + subject, schema_file, "compatible with the registered version"]
        for subject, schema_file in EXAMPLE_SUBJECTS.items()
    ), checked
