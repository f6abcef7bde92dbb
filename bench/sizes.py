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
    """-> [(lines, file:line name)] for every function or arrow function with a block body in .js files under
    `root`, its end found by matching braces (JavaScript in strings or comments with braces would confuse it)."""
    found = []
    head = re.compile(
        r"(?:function\s*([\w$]*)\s*\([^)]*\)\s*\{|(?:([\w$.]+)\s*[=:]\s*)?(?:async\s*)?(?:\([^()]*\)|[\w$]+)\s*=>\s*\{)"
    )
    for path in sorted(Path(root).rglob("*.js")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            for m in head.finditer(line):
                depth, j, text = 0, i, line[m.end() - 1 :]
                while True:
                    depth += text.count("{") - text.count("}")
                    if depth <= 0 or j + 1 == len(lines):
                        break
                    j += 1
                    text = lines[j]
                found.append((j - i + 1, f"{path}:{i + 1} {m.group(1) or m.group(2) or '(anonymous)'}"))
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
