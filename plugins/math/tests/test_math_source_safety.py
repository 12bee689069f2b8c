"""Untrusted text never reaches eval, exec or sympy's string parsers: none of them is used
anywhere in the package source (sympy objects are built only with constructors from tokens the
lexer validated). The check reads the code tokens, so docs may still name what is forbidden."""
import io
import pathlib
import tokenize

import grpo_math

PACKAGE = pathlib.Path(grpo_math.__file__).resolve().parent

FORBIDDEN_NAMES = {
    "eval", "exec", "sympify", "parse_expr", "parse_latex", "lambdify", "__import__", "importlib",
    "pickle", "marshal", "subprocess", "system", "popen", "math_verify", "latex2sympy2",
    "latex2sympy2_extended", "parsing", "srepr",
}


def sources():
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) > 5
    return files


def code_names(path):
    """(line, name, previous token, next token) for every name in the code."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                tokenize.DEDENT)]
    for i, token in enumerate(tokens):
        if token.type == tokenize.NAME:
            before = tokens[i - 1].string if i else ""
            after = tokens[i + 1].string if i + 1 < len(tokens) else ""
            yield token.start[0], token.string, before, after


def test_no_eval_exec_or_string_parsing_in_the_package():
    offences = []
    for path in sources():
        for line, name, before, after in code_names(path):
            if name in FORBIDDEN_NAMES:
                offences.append(f"{path.name}:{line}: {name}")
            elif name == "compile" and before != ".":  # the builtin, not re.compile
                offences.append(f"{path.name}:{line}: compile")
            elif name == "S" and after == "(":  # sympy.S("...") parses strings
                offences.append(f"{path.name}:{line}: S(...)")
    assert offences == []


# sympy algorithms without a time bound on hostile input; numeric work goes through numeric.py
# (fixed precision) and symbolic work through a size-checked expand.
UNBOUNDED = {"simplify", "nsimplify", "solve", "solveset", "evalf", "N", "factor", "equals",
             "trigsimp", "radsimp", "nroots", "limit", "integrate"}


def test_no_unbounded_sympy_algorithms():
    # As a method or attribute (sympy.simplify, expr.evalf) or a name imported from sympy.
    offences = [f"{path.name}:{line}: {name}" for path in sources()
                for line, name, before, _ in code_names(path) if name in UNBOUNDED and before == "."]
    for path in sources():
        for line in path.read_text("utf-8").splitlines():
            if line.startswith("from sympy") and " import " in line:
                imported = {n.strip(" ()") for n in line.split(" import ", 1)[1].split(",")}
                offences += [f"{path.name}: imports {n}" for n in imported & UNBOUNDED]
    assert offences == []


def test_the_check_would_catch_an_offence(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sympy\nvalue = sympy.sympify(text)\nx = eval('1')\ny = sympy.S('2')\n")
    names = {name for _, name, _, _ in code_names(bad)}
    assert {"sympify", "eval"} <= names


def test_no_file_is_over_400_lines():
    long_files = {p.name: n for p in sources() if (n := len(p.read_text().splitlines())) > 400}
    assert long_files == {}


def test_every_module_the_package_imports_is_scanned():
    # The checks above read every *.py file of the package; this keeps a module added to the
    # parser (scripts.py, clock.py, ...) from living anywhere they would not look.
    scanned = {path.stem for path in sources()}
    imported = set()
    for path in sources():
        for line in path.read_text("utf-8").splitlines():
            if not (line.startswith("from .") and " import " in line):
                continue
            module, names = line[len("from ."):].split(" import ", 1)
            if module.strip():
                imported.add(module.strip())
            else:  # from . import algebra, numeric
                imported.update(name.strip(" ()") for name in names.split(","))
    assert {"scripts", "clock", "parser", "lexer"} <= imported
    assert imported <= scanned
