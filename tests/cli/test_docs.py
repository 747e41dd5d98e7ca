"""The docs name real things. README.md and every docs/*.md: the files, folders and Python
modules they name exist (the engine moved once: `workflows/interpreter.py` went to
`workflows/engine/workflow.py`, `workflows/steps/` to `workflows/kinds/` — docs kept the old
names), and their relative links resolve. docs/operations.md and docs/tutorial.md also:
compose services, settings, CLI commands; the mTLS paragraph tracks whether Temporal TLS
settings exist."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import yaml
from typer.main import get_command

from cli.main import app
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OPS = (ROOT / "docs" / "operations.md").read_text()
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text()
TOP = ("deploy/", "tests/", "templates/", "scripts/", "alembic/", "workflows/", "api/", "cli/")
# names the docs mention that are not relayflow settings (Temporal's own, the CLI's,
# docker-compose.yml's)
FOREIGN = re.compile(r"^(TEMPORAL_(AUTH|CODEC)_\w+|RELAYFLOW_(API|TOKEN|BIND|DIRECTORY))$")


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: folders a doc may name a path from, besides the top level (`engine/runtime.py` in
#: docs/interpreter.md's layout table is `workflows/engine/runtime.py`)
PACKAGES = ("workflows", "activities", "api", "cli", "bench", "tests")
MODULE = re.compile(r"(?:workflows|activities|api|cli|bench|tests|scripts)(?:\.[A-Za-z_]\w*)+")
NOT_CODE = re.compile(r"\.(md|py|yaml|yml|json|com|org|io)$")


def backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def prose(doc: Path) -> str:
    """The doc without what is not prose: docs/benchmarks.md's measured tables (profiles of
    whatever code ran then; `make bench` rewrites them) are left out."""
    text = doc.read_text()
    if doc.name == "benchmarks.md":
        text = "\n".join(line for line in text.splitlines() if not line.startswith("|"))
    return text


def words(token: str) -> list[str]:
    """`relayflow stats --since 7d (cli/stats.py)` -> its words, `path:line` cut to path."""
    out = []
    for word in re.split(r"[\s,()\[\]]+", token):
        word = word.strip("'\".;")
        if word and not any(c in word for c in "<>*{}$="):
            out.append(word.split("::")[0].split(":")[0])
    return out


@cache
def repo_py_names() -> frozenset[str]:
    skip = {".venv", ".git", "node_modules", "relayflow.egg-info"}
    return frozenset(
        p.name for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)
    )


def path_problem(word: str) -> str | None:
    """Why `word` (a path-like word of a doc) names nothing, or None."""
    if "://" in word or word.startswith(("/", "~", ".data", "http")):
        return None  # URLs, absolute paths, the local data folder
    if word.startswith(TOP + ("activities/", "bench/", "docs/", ".ci/")):
        return None if (ROOT / word).exists() else "missing"
    if "/" in word and word.endswith(".py"):  # relative to a package: engine/runtime.py
        found = any((ROOT / pkg / word).exists() for pkg in PACKAGES)
        return None if found else f"missing in {', '.join(PACKAGES)}"
    if "/" not in word and re.fullmatch(r"\w+\.py", word) and word not in repo_py_names():
        return "no such file in the repository"
    return None


def module_problem(name: str) -> str | None:
    """Why dotted `name` (`workflows.engine.scope.LazyScope`) names no module or no
    top-level name in one, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        file = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if file.exists():
            break
    else:
        return "no such module"
    rest = parts[i:]
    if not rest:
        return None
    tree = ast.parse(file.read_text())
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    if rest[0] not in defined:
        return f"{'.'.join(parts[:i])} defines no {rest[0]}"
    if len(rest) > 1 and not re.search(rf"def {rest[1]}\b|\b{rest[1]}\s*[:=]", file.read_text()):
        return f"{'.'.join(parts[: i + 1])} has no {rest[1]}"
    return None


def test_paths_and_modules_named_exist() -> None:
    problems = []
    for doc in DOCS:
        for token in backticked(prose(doc)):
            for word in words(token):
                if MODULE.fullmatch(word) and not NOT_CODE.search(word):
                    why = module_problem(word)
                else:
                    why = path_problem(word)
                if why:
                    problems.append(f"{doc.relative_to(ROOT)}: `{word}`: {why}")
    assert not problems, "\n".join(sorted(set(problems)))
    for f in ("settings.py", "worker.py", "docker-compose.yml", "api/main.py"):
        assert f in OPS and (ROOT / f).exists()


def test_relative_links_resolve() -> None:
    problems = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            path = target.split("#")[0]
            if path and "://" not in path and not path.startswith("mailto:"):
                if not (doc.parent / path).exists():
                    problems.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not problems, problems


def test_the_checks_catch_moved_modules() -> None:
    """The names the engine's move left behind in the docs would be caught."""
    for old in ("workflows/interpreter.py", "workflows/steps/action.py", "engine/nowhere.py"):
        assert path_problem(old)
    assert path_problem("cel_budget.py") is None and path_problem("nowhere_at_all.py")
    assert module_problem("workflows.scope.LazyScope")
    assert module_problem("workflows.engine.scope.NoSuchThing")
    assert module_problem("workflows.engine.scope.LazyScope") is None
    assert module_problem("workflows.engine.io.DecideInput") is None


def test_compose_services_match() -> None:
    services = set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])
    table = re.findall(r"^\| `([a-z-]+)` \|", OPS, re.M)
    assert set(table) == services


def test_settings_named_exist() -> None:
    fields = {f.upper() for f in Settings.model_fields}
    for token in backticked(OPS) | backticked(TUTORIAL):
        if re.fullmatch(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+", token) and not FOREIGN.match(token):
            assert token in fields, f"{token} is not a setting"


def test_mtls_paragraph_is_current() -> None:
    has_tls = any(f.startswith("temporal_tls") for f in Settings.model_fields)
    assert ("mTLS is not implemented yet" in OPS) is not has_tls, "update 'Securing Temporal'"


def test_cli_commands_named_exist() -> None:
    root = get_command(app)
    commands = set(root.commands)  # type: ignore[attr-defined]
    for doc in (OPS, TUTORIAL):
        code = backticked(doc) | set(re.findall(r"```bash\n(.*?)```", doc, re.S))
        for snippet in code:
            for cmd in re.findall(r"\brelayflow ([a-z]+)", snippet):
                assert cmd in commands, f"relayflow {cmd} does not exist"
