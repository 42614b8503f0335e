"""The layout the README describes: what the package holds, who imports what, live citations."""

import ast
import pathlib
import re

import pytest

import keras_lyapunov

REPO = pathlib.Path(__file__).resolve().parents[1]
# The package as imported: the source tree, or an installed wheel (CI tests both).
PACKAGE = pathlib.Path(keras_lyapunov.__file__).resolve().parent
OUR_PACKAGES = ("keras_lyapunov", "experiments", "examples", "benchmarks", "scripts")
BESIDE_THE_PACKAGE = ("experiments", "examples", "benchmarks", "scripts")
# The only private modules code beside the package may import, and who may: the
# experiments' seed registry derives seeds as the library does, and the studies
# measure the selection's scores through their one documented internal interface.
PRIVATE_IMPORTS_ALLOWED = {
    "experiments/seeds.py": {"keras_lyapunov._seeds"},
    "benchmarks/trainability.py": {"keras_lyapunov._scores", "keras_lyapunov._trials"},
    "benchmarks/allocation.py": {"keras_lyapunov._trials"},
    "benchmarks/selection.py": {"keras_lyapunov._scores"},
}


def located(path):
    """A repository path, with keras_lyapunov/... read from the package as imported."""
    path = str(path)
    if path == "keras_lyapunov" or path.startswith("keras_lyapunov/"):
        return PACKAGE.parent / path
    return REPO / path


def python_files(*folders):
    return sorted(path for folder in folders for path in located(folder).rglob("*.py"))


def ours(module_name):
    return module_name is not None and module_name.split(".")[0] in OUR_PACKAGES


def underscore_imports(path):
    """``from ours import _name`` and ``ours_module._name`` uses in one file.

    Private *modules* (``keras_lyapunov._seeds``) are the package's shared helpers and
    may be imported; the underscore *names* inside any module are its own.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    found, module_aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and ours(node.module):
            for alias in node.names:
                submodule = located("/".join(node.module.split("."))) / f"{alias.name}.py"
                if alias.name.startswith("_") and not submodule.exists():
                    found.append(f"from {node.module} import {alias.name}")
                else:  # a name, or a (private) module whose own names are checked below
                    module_aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if ours(alias.name):
                    module_aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in module_aliases):
            found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", python_files(*OUR_PACKAGES), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_module_uses_another_modules_underscore_names(path):
    assert underscore_imports(path) == []


def private_modules_imported(path):
    """The private modules of keras_lyapunov a file imports (``keras_lyapunov._x``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "keras_lyapunov" and len(parts) > 1 and parts[1].startswith("_") \
                    and (located(f"keras_lyapunov/{parts[1]}.py")).exists():
                found.add(".".join(parts[:2]))
    return found


@pytest.mark.parametrize("path", python_files(*BESIDE_THE_PACKAGE),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_code_beside_the_package_imports_no_private_module_but_the_allowed(path):
    relative = path.relative_to(REPO).as_posix()
    assert private_modules_imported(path) <= PRIVATE_IMPORTS_ALLOWED.get(relative, set())


def test_the_allow_list_names_real_files_and_real_imports():
    # A stale entry would silently widen the door: each one must still be used.
    for relative, modules in PRIVATE_IMPORTS_ALLOWED.items():
        assert private_modules_imported(REPO / relative) == modules, relative


@pytest.mark.parametrize("path", python_files(*OUR_PACKAGES, "tests"),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_nothing_imports_the_examples(path):
    # Examples are leaves: what they would share belongs in experiments/.
    assert "examples" not in imported_modules(path)


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_holds_only_the_library():
    # No training loops, data readers or example command lines in what users install.
    for path in python_files("keras_lyapunov"):
        modules = imported_modules(path)
        assert not modules & {"gzip", "struct", "experiments", "examples"}, path.name
        assert "argparse" not in modules or path.name == "cli.py", path.name
        tree = ast.parse(path.read_text())
        training_calls = [node.func.attr for node in ast.walk(tree)
                          if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                          and node.func.attr in ("fit", "evaluate", "train_on_batch")]
        training_functions = [node.name for node in ast.walk(tree)
                              if isinstance(node, ast.FunctionDef)
                              and node.name.startswith(("train", "_train"))]
        assert training_calls == [] and training_functions == [], path.name


def test_the_mathematics_imports_no_keras():
    for name in ("theory.py", "_validation.py", "_seeds.py"):
        modules = imported_modules(PACKAGE / name)
        assert not modules & {"keras", "tensorflow", "jax", "torch"}, name


def theory_sections():
    text = (REPO / "docs" / "theory.md").read_text()
    return {int(n) for n in re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)}


def cited_sections(text):
    """Section numbers of every "docs/theory.md section(s) ..." citation in a text."""
    numbers = []
    for match in re.finditer(r"docs/theory\.md\s+sections?\s+([\d, and-]+)", text):
        numbers += [int(n) for n in re.findall(r"\d+", match.group(1))]
    return numbers


def test_every_theory_citation_resolves():
    sections = theory_sections()
    assert sections == set(range(1, max(sections) + 1))
    files = [*python_files(*OUR_PACKAGES, "tests"), REPO / "README.md",
             *sorted((REPO / "benchmarks" / "results").glob("*.md"))]
    files.remove(pathlib.Path(__file__).resolve())  # this file names what it looks for
    citations = 0
    for path in files:
        text = path.read_text()
        assert "THEORY.md" not in text, f"{path.name} cites a file outside the repository"
        for number in cited_sections(text):
            citations += 1
            assert number in sections, f"{path.name} cites docs/theory.md section {number}"
    assert citations >= 20


def test_the_readme_layout_matches_the_tree():
    readme = (REPO / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    paths = set(re.findall(r"`([\w./-]+\.(?:py|md)|[\w-]+/)`", layout))
    for path in paths:
        assert located(path).exists(), f"README's Layout names {path}, which does not exist"
    for module in PACKAGE.glob("*.py"):
        if module.name not in ("__init__.py", "__main__.py"):
            assert f"keras_lyapunov/{module.name}" in paths, f"Layout omits {module.name}"
    for folder in ("experiments/", "examples/", "benchmarks/", "scripts/", "tests/", "docs/"):
        assert folder in paths, f"Layout omits {folder}"
