"""``/api/v1/docs``: the OpenAPI document as one plain HTML page.

Rendered here from the document itself, with no script or stylesheet from another host (the
usual Swagger UI page loads its assets from a CDN). It needs the bearer token, or a signed-in
dashboard session when opened from the browser.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

METHODS = ("get", "post", "put", "patch", "delete")
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "h2{border-bottom:1px solid #ccc}code{background:#f4f4f4;padding:0 .2rem}"
    ".op{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #9f42c6}"
    ".m{font-weight:bold;text-transform:uppercase;margin-right:.5rem}"
    "pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;font-size:.85em}"
)


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return str(ref.rsplit("/", 1)[-1]) if ref else str(schema.get("type", "object"))


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    parts = [
        f'<div class="op"><span class="m">{method}</span><code>{escape(path)}</code>',
        f"<p>{escape(op.get('summary', ''))}</p>",
    ]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<li><code>{escape(p['name'])}</code> ({escape(p['in'])}"
            f"{', required' if p.get('required') else ''}): "
            f"{escape(_schema_name(p.get('schema', {})))}</li>"
            for p in params
        )
        parts.append(f"<ul>{rows}</ul>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        parts.append(f"<p>Body: <code>{escape(_schema_name(body.get('schema', {})))}</code></p>")
    codes = ", ".join(escape(str(code)) for code in op.get("responses", {}))
    parts.append(f"<p>Answers: {codes}</p></div>")
    return "".join(parts)


def render(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    sections = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                sections.append(_operation(method, path, item[method]))
    schemas = document.get("components", {}).get("schemas", {})
    models = "".join(
        f"<h3 id='{escape(name)}'>{escape(name)}</h3>"
        f"<pre>{escape(json.dumps(schema, indent=2))}</pre>"
        for name, schema in schemas.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(info.get('title', ''))}"
        f"</title><style>{STYLE}</style></head><body><h1>{escape(info.get('title', ''))} "
        f"{escape(info.get('version', ''))}</h1><p>{escape(info.get('description', ''))}</p>"
        "<p>Every call sends <code>Authorization: Bearer &lt;API token&gt;</code> (shown on the "
        "dashboard's Settings page). Machine-readable: <a href='openapi.json'>openapi.json</a>."
        f"</p><h2>Operations</h2>{''.join(sections)}<h2>Schemas</h2>{models}</body></html>"
    )


def install(api: FastAPI) -> None:
    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(render(api.openapi()))
