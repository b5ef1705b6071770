"""How a conversation's stored text reads on a page: metadata as JSON (not a Python repr), and
message content with its fenced code blocks kept apart so that their indentation shows."""

import json
import re

from django import template

register = template.Library()

# A line that opens a fenced block: ``` and an optional language word; a bare ``` line closes it.
_OPENING = re.compile(r"```[ \t]*([\w+#.-]*)[ \t]*")
_CLOSING = re.compile(r"```[ \t]*")


@register.filter
def json_compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@register.filter
def json_pretty(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


@register.filter
def message_blocks(content: str) -> list[dict]:
    """``[{"kind": "text" | "code", "text", "language"}]`` in order; an unclosed fence stays text.
    One pass over the lines, so a message full of fences costs what its length does. The template
    escapes every part: nothing here is marked safe."""
    blocks: list[dict] = []
    text: list[str] = []
    code: list[str] | None = None  # the lines of the block being read, with its opening line
    language = ""
    for line in (content or "").splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if code is None:
            opening = _OPENING.fullmatch(bare)
            if opening:
                code, language = [line], opening.group(1)
            else:
                text.append(line)
        elif _CLOSING.fullmatch(bare):
            _add_text(blocks, text)
            text = []
            blocks.append({"kind": "code", "text": "".join(code[1:]).rstrip("\r\n"), "language": language})
            code = None
        else:
            code.append(line)
    if code is not None:  # never closed: what it held is text after all
        text.extend(code)
    _add_text(blocks, text)
    return blocks


def _add_text(blocks: list[dict], lines: list[str]) -> None:
    text = "".join(lines).strip("\r\n")
    if text:
        blocks.append({"kind": "text", "text": text, "language": ""})
