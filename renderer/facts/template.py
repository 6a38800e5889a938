"""The checkpoint's chat template, and whether it shows that the model reasons before it answers
(the model fact `chat_template_reasoning`, which rule SS222 reads).

A checkpoint keeps its template in tokenizer_config.json `chat_template` (a string, or a list of
{name, template} for models with several), in chat_template.json (the same key, as processors
save it) or in chat_template.jinja; any may be missing. Every template found is read: a model
whose default template is plain but whose "thinking" variant reasons still reasons. The markers
are data (catalog/chat_templates.yaml); this module only looks for them.
"""

from __future__ import annotations

from renderer import catalog

TOKENIZER_CONFIG = "tokenizer_config.json"
TEMPLATE_JSON = "chat_template.json"
TEMPLATE_JINJA = "chat_template.jinja"
TEMPLATE_FILES = (TOKENIZER_CONFIG, TEMPLATE_JSON, TEMPLATE_JINJA)


def from_json(name: str, data: dict) -> list[tuple[str, str]]:
    """(where, template) of every chat template a JSON file holds under `chat_template`."""
    value = data.get("chat_template")
    if isinstance(value, str):
        return [(f"{name} chat_template", value)] if value.strip() else []
    if not isinstance(value, list):
        return []
    found = []
    for i, entry in enumerate(value):
        if isinstance(entry, dict) and isinstance(entry.get("template"), str) \
                and entry["template"].strip():
            label = entry.get("name") if isinstance(entry.get("name"), str) else f"[{i}]"
            label = " ".join(label.split())[:40]  # it goes into a one-line YAML comment
            found.append((f"{name} chat_template {label!r}", entry["template"]))
    return found


def from_jinja(name: str, text: str) -> list[tuple[str, str]]:
    return [(name, text)] if text.strip() else []


def markers() -> list[str]:
    return [row["marker"] for row in catalog.chat_templates()["reasoning_markers"]]


def reasoning(templates: list[tuple[str, str]]) -> tuple[bool, str]:
    """(whether any template shows a reasoning marker, the facts file's comment saying why)."""
    table = "catalog/chat_templates.yaml"
    hits: dict[str, list[str]] = {}
    for where, text in templates:
        lowered = text.lower()
        for marker in markers():
            if marker.lower() in lowered:
                hits.setdefault(marker, []).append(where)
    read = ", ".join(dict.fromkeys(where for where, _ in templates))
    if not hits:
        return False, f"no reasoning marker of {table} in {read}"
    places = ", ".join(dict.fromkeys(w for ws in hits.values() for w in ws))
    return True, f"{', '.join(hits)} in {places} ({table})"
