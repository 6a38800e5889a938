"""The request checks of `servespec smoke` (streamed chat, tool call, reasoning) and the helpers
that read the `openai` SDK's objects. Each check takes the client, the model, its start time,
the token budget and `record`, which files one result (renderer/operate/smoke.py)."""

from __future__ import annotations

import json
import time
from typing import Any

CHAT_PROMPT = "Say hello in one short sentence."
TOOL_PROMPT = "What is the weather in Paris right now? Use the get_weather tool."
REASONING_PROMPT = "What is 17 + 25? Think it through step by step, then answer."

SMOKE_TOOL_NAME = "get_weather"
SMOKE_TOOL = {
    "type": "function",
    "function": {
        "name": SMOKE_TOOL_NAME,
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"}},
            "required": ["city"],
        },
    },
}
SMOKE_TOOL_CHOICE = {"type": "function", "function": {"name": SMOKE_TOOL_NAME}}
# `--tool-choice`: "named" forces the smoke tool (SGLang enforces a named tool_choice with a
# grammar, so its server needs a grammar backend: sglang 0.5.16 srt/entrypoints/openai/
# serving_chat.py); "auto" lets the model decide, which only a model that calls tools on its
# own passes.
TOOL_CHOICES = {"named": SMOKE_TOOL_CHOICE, "auto": "auto"}

# Where OpenAI-compatible servers put the thinking text: SGLang and most others use
# `reasoning_content`; some newer servers name it `reasoning`.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def short(text: Any, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_of(obj: Any, name: str) -> Any:
    """Read a field from an SDK object, whether declared or carried as an extra (pydantic)."""
    if obj is None:
        return None
    value = getattr(obj, name, None)
    if value is not None:
        return value
    for extra_attr in ("model_extra", "__pydantic_extra__"):
        extra = getattr(obj, extra_attr, None)
        if isinstance(extra, dict) and extra.get(name) is not None:
            return extra[name]
    if isinstance(obj, dict):
        return obj.get(name)
    to_dict = getattr(obj, "model_dump", None) or getattr(obj, "to_dict", None)
    if callable(to_dict):
        try:
            data = to_dict()
        except Exception:  # noqa: BLE001 - best effort: a field we cannot read is absent
            return None
        if isinstance(data, dict):
            return data.get(name)
    return None


def reasoning_of(obj: Any) -> tuple[str, str | None]:
    """(reasoning text, field it came from) of a message or a stream delta."""
    for name in REASONING_FIELDS:
        value = field_of(obj, name)
        if isinstance(value, str) and value:
            return value, name
    return "", None


def chat_stream(client: Any, model: str, start: float, max_tokens: int, record: Any) -> None:
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": CHAT_PROMPT}],
        stream=True,
        max_tokens=max_tokens,
        temperature=0,
    )
    ttft: float | None = None
    content: list[str] = []
    reasoning_chars = 0
    chunks = 0
    finish_reason = None
    try:
        for chunk in stream:
            chunks += 1
            for choice in getattr(chunk, "choices", None) or []:
                delta = getattr(choice, "delta", None)
                text = (getattr(delta, "content", None) or "") if delta is not None else ""
                thinking, _ = reasoning_of(delta)
                if (text or thinking) and ttft is None:
                    ttft = time.perf_counter() - start
                content.append(text)
                reasoning_chars += len(thinking)
                if getattr(choice, "finish_reason", None):
                    finish_reason = choice.finish_reason
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            close()
    total = time.perf_counter() - start
    text = "".join(content)
    metrics = {
        "ttft_seconds": None if ttft is None else round(ttft, 4),
        "chunks": chunks,
        "content_chars": len(text),
        "reasoning_chars": reasoning_chars,
        "finish_reason": finish_reason,
    }
    if chunks == 0:
        record("chat_stream", start, False, "the stream ended without a chunk", **metrics)
    elif not text.strip():
        extra = f", {reasoning_chars} reasoning chars" if reasoning_chars else ""
        record(
            "chat_stream",
            start,
            False,
            f"empty content in {chunks} chunks (finish_reason={finish_reason}{extra})",
            **metrics,
        )
    else:
        record(
            "chat_stream",
            start,
            True,
            f"ttft {ttft:.2f}s; {len(text)} chars in {chunks} chunks, {total:.2f}s; "
            f"finish_reason={finish_reason}",
            **metrics,
        )


def ask(client: Any, model: str, prompt: str, max_tokens: int, **extra: Any) -> tuple[Any, Any]:
    """One non-streamed, greedy chat turn; (message, finish_reason) of its first choice."""
    response = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        **extra,
    )
    return first_choice_message(response)


def first_choice_message(response: Any) -> tuple[Any, Any]:
    choices = getattr(response, "choices", None) or []
    if not choices:
        return None, None
    return getattr(choices[0], "message", None), getattr(choices[0], "finish_reason", None)


def tool_call(client: Any, model: str, start: float, max_tokens: int, record: Any,
              tool_choice: str = "named") -> None:
    message, finish_reason = ask(client, model, TOOL_PROMPT, max_tokens, tools=[SMOKE_TOOL],
                                  tool_choice=TOOL_CHOICES[tool_choice])
    if message is None:
        record("tool_call", start, False, "response has no choices")
        return
    calls = list(getattr(message, "tool_calls", None) or [])
    if not calls:
        content = getattr(message, "content", None) or ""
        said = f", content {short(content, 80)!r}" if content else ""
        record(
            "tool_call",
            start,
            False,
            f"no tool call in response (finish_reason={finish_reason}{said})",
            finish_reason=finish_reason,
        )
        return
    function = field_of(calls[0], "function")
    name = field_of(function, "name")
    arguments = field_of(function, "arguments")
    if name != SMOKE_TOOL_NAME:
        record("tool_call", start, False, f"tool call names {name!r}, expected {SMOKE_TOOL_NAME!r}")
        return
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        record(
            "tool_call",
            start,
            False,
            f"tool call arguments are not a JSON object: {short(arguments, 80)!r}",
        )
        return
    record(
        "tool_call",
        start,
        True,
        f"{name}({short(arguments, 80)}); finish_reason={finish_reason}",
        calls=len(calls),
        finish_reason=finish_reason,
    )


def reasoning(client: Any, model: str, start: float, max_tokens: int, record: Any) -> None:
    message, finish_reason = ask(client, model, REASONING_PROMPT, max_tokens)
    if message is None:
        record("reasoning", start, False, "response has no choices")
        return
    text, source = reasoning_of(message)
    if not text.strip():
        record(
            "reasoning",
            start,
            False,
            f"no reasoning_content in response (finish_reason={finish_reason}); "
            "is the server's reasoning parser on?",
            finish_reason=finish_reason,
        )
        return
    record(
        "reasoning",
        start,
        True,
        f"{len(text)} chars of {source}: {short(text, 60)!r}",
        reasoning_chars=len(text),
        field=source,
    )
