"""Static checks of the PowerShell scripts, on the tree-sitter-powershell syntax tree.

PowerShell cannot run on the build machine, so these checks stand in for it: the script parses,
it turns on strict mode and stop-on-error, it reads exactly the SSM parameters its document
declares, it never uses document interpolation, it never hands a secret to an output sink, and
its functions use approved verbs. Each check returns a list of human-readable problems (empty
when the script is fine) so that a test can show all of them with line numbers at once.

tree-sitter-powershell 0.26 rejects two valid forms, so the scripts avoid them: a bare-word list
as a command argument (`-Name a, b`: write `-Name 'a', 'b'`) and statements after `param(...)`
on the same line (put the param block on its own line).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser, Tree

# `Get-Verb` of PowerShell 7 (every group), kept as a literal so the check needs no PowerShell.
APPROVED_VERBS = frozenset(
    """
    Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open Optimize Pop
    Push Redo Remove Rename Reset Resize Search Select Set Show Skip Split Step Switch Undo
    Unlock Watch
    Connect Disconnect Read Receive Send Write
    Backup Checkpoint Compare Compress Convert ConvertFrom ConvertTo Dismount Edit Expand Export
    Group Import Initialize Limit Merge Mount Out Publish Restore Save Sync Unpublish Update
    Debug Measure Ping Repair Resolve Test Trace
    Approve Assert Build Complete Confirm Deny Deploy Disable Enable Install Invoke Register
    Request Restart Resume Start Stop Submit Suspend Uninstall Unregister Wait
    Block Grant Protect Revoke Unblock Unprotect
    Use
    """.split()  # noqa: SIM905 - grouped by line as Get-Verb groups them
)

# Commands that print or persist their arguments or their pipeline input.
OUTPUT_COMMANDS = frozenset(
    name.lower()
    for name in """
    Write-Output Write-Host Write-Information Write-Verbose Write-Debug Write-Warning Write-Error
    Write-Progress echo Out-Host Out-Default Out-File Out-String Add-Content Set-Content
    Tee-Object Start-Transcript Export-Csv ConvertTo-Json Format-List Format-Table
    """.split()  # noqa: SIM905
)
# .NET and host sinks: [Console]::WriteLine(), [Console]::Error.WriteLine(), $host.UI.Write*().
OUTPUT_METHOD = re.compile(
    r"(?i)(\[(system\.)?console\]::(error\.|out\.)?write(line)?|\.ui\.write)"
)

# Where secrets come from: the one-time password parameter, the join user's password readers.
SECRET_ENV_VARIABLES = frozenset({"ssm_onetimepassword"})
SECRET_SOURCE_COMMANDS = frozenset({"get-ssmparameter", "get-secsecretvalue"})
# A variable named like a secret is treated as one, whatever it was assigned from: it covers
# function parameters that receive a secret from their caller.
SECRET_NAME = re.compile(r"(?i)(password|passwd|otp|secret|credential)")

SSM_VARIABLE = re.compile(r"SSM_([A-Za-z0-9]+)")


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_powershell.language()))


def parse(source: str) -> Tree:
    return _parser().parse(source.encode("utf-8"))


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def _line(node: Node) -> int:
    return node.start_point[0] + 1


def syntax_errors(source: str) -> list[str]:
    """ERROR and MISSING nodes, with their line and column (1-based)."""
    problems = []
    for node in _walk(parse(source).root_node):
        if node.is_error or node.is_missing:
            kind = "missing " + node.type if node.is_missing else "syntax error"
            row, column = node.start_point
            snippet = _text(node).splitlines()[0][:40] if _text(node) else ""
            problems.append(f"line {row + 1}, column {column + 1}: {kind} near {snippet!r}")
    return problems


def _commands(root: Node) -> Iterator[tuple[Node, str]]:
    for node in _walk(root):
        if node.type == "command":
            name = next((c for c in node.children if c.type == "command_name"), None)
            if name is not None:
                yield node, _text(name)


def _top_level_statements(root: Node) -> list[Node]:
    lists = [c for c in root.children if c.type == "statement_list"]
    return [statement for lst in lists for statement in lst.children]


def strict_mode_problems(source: str) -> list[str]:
    """`Set-StrictMode -Version Latest` and `$ErrorActionPreference = 'Stop'` at script level,
    before anything else runs (only comments and those two may precede them)."""
    statements = _top_level_statements(parse(source).root_node)
    strict = stop = None
    for index, statement in enumerate(statements):
        text = " ".join(_text(statement).split())
        if re.fullmatch(r"(?i)Set-StrictMode -Version Latest", text):
            strict = index
        if re.fullmatch(r"""(?i)\$ErrorActionPreference = ['"]Stop['"]""", text):
            stop = index
    problems = []
    if strict is None:
        problems.append("no script-level `Set-StrictMode -Version Latest`")
    if stop is None:
        problems.append("no script-level `$ErrorActionPreference = 'Stop'`")
    if strict is not None and stop is not None and max(strict, stop) > 1:
        problems.append("strict mode and stop-on-error must be the first two statements")
    return problems


def _without_comments(source: str) -> str:
    data = source.encode("utf-8")
    comments = [n for n in _walk(parse(source).root_node) if n.type == "comment"]
    for node in sorted(comments, key=lambda n: n.start_byte, reverse=True):
        data = (
            data[: node.start_byte]
            + b" " * (node.end_byte - node.start_byte)
            + data[node.end_byte :]
        )
    return data.decode("utf-8")


def ssm_parameters_read(source: str) -> set[str]:
    """SSM parameter names the script reads from `SSM_*` environment variables (outside comments:
    `$env:SSM_x`, `${env:SSM_x}`, or a string naming `SSM_x`)."""
    return set(SSM_VARIABLE.findall(_without_comments(source)))


# What SSM substitutes in a document's content: `{{ name }}`, `{{ssm:/p}}`, `{{ resolve:... }}`.
SSM_REFERENCE = re.compile(r"\{\{\s*[A-Za-z0-9_.:/-]+\s*\}\}")


def interpolation_problems(source: str) -> list[str]:
    """A `{{ name }}` reference anywhere, comments included: SSM substitutes it in the whole
    document content, so even a commented one would splice a parameter into the script."""
    return [
        f"line {number}: document interpolation {match.group(0)!r} "
        "(read the SSM_* environment variables instead)"
        for number, line in enumerate(source.splitlines(), start=1)
        for match in SSM_REFERENCE.finditer(line)
    ]


def _variable_name(node: Node) -> str:
    """`$env:SSM_x` -> `env:ssm_x`, `${otp}` -> `otp`, `$script:Otp` -> `otp`."""
    name = _text(node).lstrip("$").strip("{}").lower()
    for scope in ("script:", "global:", "local:", "private:", "using:"):
        name = name.removeprefix(scope)
    return name


def _variables(node: Node) -> Iterator[Node]:
    for child in _walk(node):
        if child.type == "variable":
            yield child


def _is_seed(name: str) -> bool:
    return name.startswith("env:") and name[4:] in SECRET_ENV_VARIABLES


def secret_variables(source: str) -> set[str]:
    """Variables that hold a secret: named like one, or assigned (directly or through other
    variables) from the one-time password or from a password reader."""
    root = parse(source).root_node
    tainted = {_variable_name(v) for v in _variables(root) if SECRET_NAME.search(_variable_name(v))}
    assignments: list[tuple[str, list[Node]]] = []
    for node in _walk(root):
        if node.type == "assignment_expression":
            targets = [c for c in node.children if c.type == "left_assignment_expression"]
            values = [c for c in node.children if c.type != "left_assignment_expression"]
            for target_node in targets:
                for variable in _variables(target_node):
                    assignments.append((_variable_name(variable), values))
    changed = True
    while changed:
        changed = False
        for target, values in assignments:
            if target in tainted:
                continue
            for value in values:
                names = {_variable_name(v) for v in _variables(value)}
                commands = {name.lower() for _, name in _commands(value)}
                if (
                    names & tainted
                    or any(_is_seed(n) for n in names)
                    or commands & SECRET_SOURCE_COMMANDS
                ):
                    tainted.add(target)
                    changed = True
                    break
    return tainted


def _is_secret(name: str, tainted: set[str]) -> bool:
    return _is_seed(name) or name in tainted


def _enclosing_pipeline(node: Node) -> Node:
    current = node
    while current.parent is not None and current.type != "pipeline":
        current = current.parent
    return current


def _arguments(command: Node) -> Iterator[tuple[str | None, Node]]:
    """(parameter name or None for a positional argument, argument node) of a command call."""
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    if elements is None:
        return
    items = [c for c in elements.children if c.type != "command_argument_sep"]
    index = 0
    while index < len(items):
        item = items[index]
        if item.type == "command_parameter":
            name, colon, _ = _text(item).lstrip("-").partition(":")
            following = items[index + 1] if index + 1 < len(items) else None
            if not colon and following is not None and following.type != "command_parameter":
                yield name.lower(), following
                index += 2
                continue
            yield name.lower(), item
        else:
            yield None, item
        index += 1


def _function_bodies(root: Node) -> dict[str, Node]:
    bodies = {}
    for node in _walk(root):
        if node.type == "function_statement":
            name = next((c for c in node.children if c.type == "function_name"), None)
            if name is not None:
                bodies[_text(name).lower()] = node
    return bodies


def _is_output_pipeline(pipeline: Node) -> bool:
    return bool(OUTPUT_METHOD.search(_text(pipeline))) or any(
        name.lower() in OUTPUT_COMMANDS for _, name in _commands(pipeline)
    )


def sink_parameters(source: str) -> dict[str, set[str]]:
    """For each function of the script, the parameters it writes to an output sink, directly or
    by passing them to another such function (`Exit-WithCode -Message $m` -> `Write-Log`)."""
    bodies = _function_bodies(parse(source).root_node)
    sinks: dict[str, set[str]] = {name: set() for name in bodies}
    changed = True
    while changed:
        changed = False
        for function, body in bodies.items():
            found = set()
            for node in _walk(body):
                if node.type == "pipeline" and _is_output_pipeline(node):
                    found |= {_variable_name(v) for v in _variables(node)}
            for command, name in _commands(body):
                callee = name.lower()
                if callee not in sinks:
                    continue
                for parameter, argument in _arguments(command):
                    if parameter is None or parameter in sinks[callee]:
                        found |= {_variable_name(v) for v in _variables(argument)}
            if not found <= sinks[function]:
                sinks[function] |= found
                changed = True
    return sinks


def secret_output_problems(source: str) -> list[str]:
    """A secret (or a variable derived from it) reaching an output command, a console or host
    write, a script function that writes that argument, a `throw`, or standing alone as a
    statement (which writes it to the output)."""
    root = parse(source).root_node
    tainted = secret_variables(source)
    sinks = sink_parameters(source)
    problems = []

    def secrets_in(node: Node) -> list[str]:
        return sorted(
            {_text(v) for v in _variables(node) if _is_secret(_variable_name(v), tainted)}
        )

    for command, name in _commands(root):
        if name.lower() in OUTPUT_COMMANDS:
            found = secrets_in(_enclosing_pipeline(command))
            if found:
                problems.append(f"line {_line(command)}: {', '.join(found)} passed to {name}")
        elif sinks.get(name.lower()):
            for parameter, argument in _arguments(command):
                if parameter is not None and parameter not in sinks[name.lower()]:
                    continue
                found = secrets_in(argument)
                if found:
                    problems.append(
                        f"line {_line(command)}: {', '.join(found)} passed to {name}, "
                        "which writes it"
                    )
    for node in _walk(root):
        if node.type == "pipeline" and OUTPUT_METHOD.search(_text(node)):
            own_text = _text(node)
            inner = [c for c in _walk(node) if c is not node and c.type == "pipeline"]
            # Report at the innermost pipeline that contains the write call.
            if any(OUTPUT_METHOD.search(_text(c)) for c in inner):
                continue
            found = secrets_in(node)
            if found:
                call = OUTPUT_METHOD.search(own_text)
                what = call.group(0) if call else "a write call"
                problems.append(f"line {_line(node)}: {', '.join(found)} passed to {what}")
        if node.type == "flow_control_statement" and _text(node).lower().startswith("throw"):
            found = secrets_in(node)
            if found:
                problems.append(f"line {_line(node)}: {', '.join(found)} in a thrown message")
        if node.type == "statement_list":
            for statement in node.children:
                if statement.type != "pipeline":
                    continue
                if any(c.type == "assignment_expression" for c in statement.children):
                    continue
                if any(True for _ in _commands(statement)):
                    continue
                found = secrets_in(statement)
                if found:
                    problems.append(
                        f"line {_line(statement)}: {', '.join(found)} written to the output "
                        "by a bare expression"
                    )
    return problems


@dataclass(frozen=True)
class FunctionName:
    name: str
    line: int


def function_names(source: str) -> list[FunctionName]:
    root = parse(source).root_node
    return [
        FunctionName(_text(name), _line(name))
        for node in _walk(root)
        if node.type == "function_statement"
        for name in node.children
        if name.type == "function_name"
    ]


def verb_problems(source: str) -> list[str]:
    problems = []
    for function in function_names(source):
        verb, dash, noun = function.name.partition("-")
        if not dash or not noun:
            problems.append(f"line {function.line}: {function.name} is not Verb-Noun")
        elif verb not in APPROVED_VERBS:
            problems.append(f"line {function.line}: {function.name} uses unapproved verb {verb}")
    return problems
