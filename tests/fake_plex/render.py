"""Plex answers in two dresses: XML (the default) and JSON (`Accept: application/json`).

A response is built once as a tree of `Node`s and rendered either way:

* XML: `<MediaContainer size="1"><Video ratingKey="150" …><Guid id="imdb://…"/></Video>…`;
  booleans are "1"/"0", absent values (None) are left out, as PMS does.
* JSON: `{"MediaContainer": {"size": 1, "Metadata": [{"ratingKey": "150", …, "Guid": [{"id":
  "imdb://…"}]}]}}`; children are grouped under their JSON key (PMS names library items
  `Metadata` whatever their XML tag, sections `Directory`, accounts `Account`), lists except for
  the one-per-parent elements of a session (`User`, `Player`, `Session`), which are objects.
"""

from __future__ import annotations

import json
from typing import Any

XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\n", "&#10;"))


class Node:
    """One element: a tag, its attributes (None values dropped) and its children."""

    __slots__ = ("attrs", "children", "json_key", "single", "tag")

    def __init__(
        self,
        tag: str,
        attrs: dict[str, Any],
        children: list[Node] | None = None,
        *,
        json_key: str | None = None,
        single: bool = False,
    ) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children = children or []
        self.json_key = json_key or tag
        self.single = single  # JSON: an object, not a one-element list


def _xml_value(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    text = str(value)
    if any(ch in text for ch in '&<>"\n'):
        for raw, escaped in _ESCAPES:
            text = text.replace(raw, escaped)
    return text


def _xml(node: Node, out: list[str]) -> None:
    out.append("<" + node.tag)
    for name, value in node.attrs.items():
        if value is not None:
            out.append(f' {name}="{_xml_value(value)}"')
    if not node.children:
        out.append(" />")
        return
    out.append(">")
    for child in node.children:
        _xml(child, out)
    out.append(f"</{node.tag}>")


def to_xml(root: Node) -> bytes:
    out = [XML_HEADER]
    _xml(root, out)
    return "".join(out).encode()


def _json(node: Node) -> dict[str, Any]:
    body = {name: value for name, value in node.attrs.items() if value is not None}
    for child in node.children:
        if child.single:
            body[child.json_key] = _json(child)
        else:
            body.setdefault(child.json_key, []).append(_json(child))
    return body


def to_json(root: Node) -> bytes:
    return json.dumps({root.tag: _json(root)}, separators=(",", ":")).encode()
