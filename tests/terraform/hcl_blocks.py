"""A small HCL-aware reader of `variable` and `output` blocks (brace matching that skips quoted
strings and comments), enough to check descriptions and README coverage without a parser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BLOCK_START = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{', re.MULTILINE)
DESCRIPTION = re.compile(r'^  description\s*=\s*"(?:[^"\\]|\\.)+"', re.MULTILINE)


@dataclass(frozen=True)
class Block:
    kind: str
    name: str
    body: str

    @property
    def description(self) -> str | None:
        match = DESCRIPTION.search(self.body)
        return match.group(0) if match else None


def _block_end(text: str, start: int) -> int:
    """Index just after the brace closing the block whose opening brace is at `start`."""
    depth = 0
    index = start
    in_string = False
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 2
                continue
            if char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#" or text.startswith("//", index):
            index = text.find("\n", index)
            if index == -1:
                break
            continue
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    raise ValueError(f"unbalanced braces after offset {start}")


def read_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    blocks = []
    for match in BLOCK_START.finditer(text):
        end = _block_end(text, match.end() - 1)
        blocks.append(Block(match.group(1), match.group(2), text[match.end() : end - 1]))
    return blocks
