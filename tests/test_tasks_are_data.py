"""Tasks are data: no runner or report knows a task by name, config keys are read without
literal fallbacks (defaults live in conf/ only), and one registry mechanism names things."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# receivers that hold this project's config (the names the code gives them); checkpoint
# config.json dicts, HTTP replies and environment variables are not config keys
CONFIG_NAMES = re.compile(r"^(cfg|hydra_cfg|\w+_cfg|runtime|runner|task|gate|judge)$")


def _task_names() -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / "task").glob("*.yaml")
                  if not p.stem.startswith("_"))


def test_runners_and_reports_never_name_a_task():
    names = _task_names()
    assert {"textvqa", "vqav2", "videobench", "coco_caption"} <= set(names)
    found = []
    for folder in ("runners", "modeltest/reports"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8").lower()
            for name in names:
                for match in re.finditer(rf"(?<![a-z0-9_]){re.escape(name)}(?![a-z0-9_])", text):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not found, "task names in runners/reports:\n" + "\n".join(found)


def _root_name(node) -> str | None:
    """The variable a receiver expression starts from: cfg["a"].get -> cfg."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, ast.BoolOp):
            node = node.values[0]
        else:
            return None


def _literal(node) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is not None
    return isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.Set))


def literal_default_reads(folder: Path) -> list[str]:
    hits = []
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get" and len(node.args) == 2
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str) and _literal(node.args[1])):
                root = _root_name(node.func.value)
                if root and CONFIG_NAMES.match(root):
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return hits


@pytest.mark.parametrize("folder", ["runners", "inference"])
def test_config_keys_are_read_without_literal_defaults(folder):
    hits = literal_default_reads(ROOT / folder)
    assert not hits, "config keys read with a literal default:\n" + "\n".join(hits)


def test_the_literal_default_check_finds_what_it_looks_for(tmp_path):
    (tmp_path / "bad.py").write_text('x = cfg["runtime"].get("tp", 1)\n'
                                     'y = model_cfg.get("dtype", "fp32")\n'
                                     'z = (runner.get("judge") or {}).get("batch_size", 32)\n'
                                     'fine = config_json.get("hidden_size", 4096)\n'
                                     'also = cfg.get("seed")\n')
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        hits = literal_default_reads(tmp_path)
    finally:
        ROOT = saved
    assert len(hits) == 3 and all(h.startswith("bad.py:") for h in hits)


def _module_imports() -> dict[str, set[str]]:
    """Project module -> project modules it imports at module level (imports inside
    functions are deliberate late imports and do not count)."""
    graph: dict[str, set[str]] = {}
    for package in ("modeltest", "runners", "inference"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(
                ".__init__")
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found = set()
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module)
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
                elif isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
            graph[name] = found
    return {name: {m for m in imports if m in graph and m != name}
            for name, imports in graph.items()}


def test_no_import_cycles_and_arrows_point_one_way():
    graph = _module_imports()
    for name, imports in graph.items():
        if name.startswith("inference"):
            assert not any(m.startswith(("modeltest", "runners")) for m in imports), name
        if name.startswith("modeltest"):
            assert not any(m.startswith("runners") for m in imports), name
    for path in (ROOT / "modeltest").rglob("*.py"):
        assert "torch.distributed" not in path.read_text(encoding="utf-8"), path
    state: dict[str, int] = {}

    def visit(name, path):
        state[name] = 1
        for other in graph[name]:
            if state.get(other) == 1:
                raise AssertionError("import cycle: " + " -> ".join(
                    path[path.index(other):] + [other]))
            if other not in state:
                visit(other, path + [other])
        state[name] = 2
    for name in graph:
        if name not in state:
            visit(name, [name])
