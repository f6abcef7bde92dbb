"""Code sizes: Python modules in src/ over 400 lines, functions over 60 lines, and the largest JavaScript functions.

python -m bench.sizes
"""

import ast
import re
from pathlib import Path

MAX_MODULE, MAX_FUNCTION = 400, 60


def python_sizes(root):
    """-> ([(lines, module)], [(lines, module:function)]) for every .py file under `root`."""
    modules, functions = [], []
    for path in sorted(Path(root).rglob("*.py")):
        text = path.read_text()
        modules.append((len(text.splitlines()), str(path)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{path}:{node.lineno} {node.name}"))
    return sorted(modules, reverse=True), sorted(functions, reverse=True)


def js_functions(root):
    """-> [(lines, file:line name)] for every function in .js files under `root`, matched by braces."""
    found = []
    start = re.compile(
        r"(?:function\s*(\w*)\s*\([^)]*\)|(\w+)\s*=\s*(?:async\s*)?\([^)]*\)\s*=>|(\w+)\s*\([^)]*\)\s*)\{"
    )
    for path in sorted(Path(root).rglob("*.js")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            m = start.search(line)
            if not m or re.match(r"\s*(if|for|while|switch|catch)\b", line[m.start() :]):
                continue
            depth, j = 0, i
            for j in range(i, len(lines)):
                text = lines[j][m.start() :] if j == i else lines[j]
                depth += text.count("{") - text.count("}")
                if depth <= 0:
                    break
            found.append((j - i + 1, f"{path}:{i + 1} {next(g for g in m.groups() if g is not None) or '(anonymous)'}"))
    return sorted(found, reverse=True)


def main():
    modules, functions = python_sizes("src")
    print(f"Python modules in src/ over {MAX_MODULE} lines: {sum(n > MAX_MODULE for n, _ in modules)}")
    for n, name in modules[:5]:
        print(f"  {n:5d}  {name}")
    print(f"Python functions in src/ over {MAX_FUNCTION} lines: {sum(n > MAX_FUNCTION for n, _ in functions)}")
    for n, name in functions[:5]:
        print(f"  {n:5d}  {name}")
    print("largest JavaScript functions in src/:")
    for n, name in js_functions("src")[:5]:
        print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main()
