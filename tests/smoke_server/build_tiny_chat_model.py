"""Build a tiny, deterministic Qwen3-style chat model for the `servespec smoke` tests.

Run with the smoke-server venv's Python (it needs torch, tokenizers and transformers):

    .cache/smoke-server/bin/python tests/smoke_server/build_tiny_chat_model.py \
        reasoner=/tmp/reasoner plain=/tmp/plain

Nothing is downloaded: the tokenizer and the weights are made here and written with
`save_pretrained`.

The model is a "bigram machine". Its one decoder layer has `o_proj` and `down_proj` set to
zero, so the residual stream after the layer is still the token embedding; the embeddings are
one-hot and `lm_head` maps each token to the one-hot logit of its successor. Greedy decoding
therefore depends only on the last token and follows a fixed chain of tokens. For the
`reasoner` variant that chain spells a Qwen3-style answer (the `plain` variant only says
"Hello! How can I help you today?"):

    <think>\\n...reasoning...\\n</think>\\n\\nLet me check that for you.\\n<tool_call>\\n{json}\\n</tool_call><|im_end|>

`transformers serve` then does what it does for a real Qwen3 checkpoint: its own response
parser (the `qwen3` response template) turns the `<think>` block into `reasoning_content` and
the `<tool_call>` block into `tool_calls`. Nothing in the server is imitated or patched.

The chat template follows Qwen3's: with `enable_thinking=false` (the server's `--reasoning off`)
the generation prompt ends with a prefilled, empty `<think>\\n\\n</think>\\n\\n`. Its last token
is then `\\n\\n` (a BPE merge), not `\\n`, and the chain starts after the thinking block: the
server returns content and a tool call but no reasoning, as a Qwen3 model with thinking off
would.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = {"city": "Paris"}
REASONING = "The user asks about the weather in Paris, so I should call get_weather."
CONTENT = "Let me check that for you."
PLAIN_ANSWER = "Hello! How can I help you today?"

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen3 keeps these as added, non-special tokens: one id each, never stripped on decode.
ADDED_TOKENS = ["<think>", "</think>", "<tool_call>", "</tool_call>"]

CHAT_TEMPLATE = """\
{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}
{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n' }}
{{- 'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments '
    'within <tool_call></tool_call> XML tags:\\n<tool_call>\\n'
    '{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
{%- if not (loop.first and message.role == 'system') %}
{%- if message.role == 'assistant' and message.tool_calls %}
{{- '<|im_start|>assistant\\n' }}
{%- for tool_call in message.tool_calls %}
{%- set call = tool_call.function if tool_call.function is defined else tool_call %}
{{- '<tool_call>\\n' }}{{- {'name': call.name, 'arguments': call.arguments} | tojson }}{{- '\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\\n' }}
{%- elif message.role == 'tool' %}
{{- '<|im_start|>user\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}
{%- else %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}
{{- '<think>\\n\\n</think>\\n\\n' }}
{%- endif %}
{%- endif %}
"""


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, as the ByteLevel decoder uses."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = _bytes_to_unicode()


def byte_level(text: str) -> str:
    return "".join(BYTE_CHARS[b] for b in text.encode("utf-8"))


def tool_call_json() -> str:
    return json.dumps({"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS})


def _pieces(text: str) -> list[str]:
    """Split text into word-sized pieces. Each keeps its leading whitespace and the last one
    also the trailing whitespace, so that no piece is a bare newline (the token `\\n` is the
    one that starts the chain)."""
    pieces = re.findall(r"\s*\S+", text)
    trailing = text[len(text.rstrip()) :]
    if trailing:
        pieces[-1] += trailing
    return pieces


def answer_chain(variant: str = "reasoner") -> tuple[list[str], list[str]]:
    """The token chain the model emits, as (thinking-on chain, thinking-off chain).

    Entries are plain text; special and added tokens are given by their text. Every entry must
    map to a distinct token, because the model's next token depends on the current token alone.

    `reasoner` thinks, says a sentence and calls the tool; `plain` only answers in text (no
    reasoning, no tool call), like a model served without either.
    """
    if variant == "plain":
        chain = [*_pieces(PLAIN_ANSWER), "<|im_end|>"]
        return chain, chain
    if variant != "reasoner":
        raise ValueError(f"unknown variant {variant!r}")
    after_thinking = [*_pieces(CONTENT + "\n"), "<tool_call>"]
    after_thinking += _pieces("\n" + tool_call_json() + "\n")
    after_thinking += ["</tool_call>", "<|im_end|>"]
    thinking = ["<think>", *_pieces("\n" + REASONING + "\n"), "</think>", "\n\n"]
    return thinking + after_thinking, after_thinking


def build(out_dir: Path, variant: str = "reasoner") -> dict:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    on_chain, off_chain = answer_chain(variant)

    # ---- tokenizer: byte-level BPE with all 256 bytes, one merge (\n\n) and the chain words ----
    vocab: dict[str, int] = {}
    for ch in BYTE_CHARS.values():
        vocab.setdefault(ch, len(vocab))
    newline, double_newline = byte_level("\n"), byte_level("\n\n")
    vocab[double_newline] = len(vocab)
    merges = [(newline, newline)]
    plain = [p for p in on_chain if p not in SPECIAL_TOKENS + ADDED_TOKENS]
    for piece in plain:
        key = byte_level(piece)
        if key not in vocab:
            vocab[key] = len(vocab)
    # Added tokens come after the model vocabulary, as in Qwen's tokenizer.json.
    for tok in SPECIAL_TOKENS + ADDED_TOKENS:
        vocab[tok] = len(vocab)

    bpe = models.BPE(vocab=vocab, merges=merges, fuse_unk=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=8192,
    )

    def token_id(piece: str) -> int:
        ids = tokenizer.convert_tokens_to_ids(
            piece if piece in SPECIAL_TOKENS + ADDED_TOKENS else byte_level(piece)
        )
        if ids is None or ids == tokenizer.unk_token_id:
            raise RuntimeError(f"piece {piece!r} is not a single token")
        return ids

    eos_id = token_id("<|im_end|>")
    # The last prompt token decides where the chain starts: `\n` after `<|im_start|>assistant`
    # (thinking on) or `\n\n` after the prefilled empty think block (thinking off).
    successor: dict[int, int] = {}

    def link(chain: list[str], start: str) -> None:
        prev = token_id(start)
        for piece in chain:
            cur = token_id(piece)
            if successor.get(prev, cur) != cur:
                raise RuntimeError(f"token {prev} already leads to {successor[prev]}, not {cur}")
            successor[prev] = cur
            prev = cur

    link(on_chain, "\n")
    link(off_chain, "\n\n")

    # ---- model ----
    vocab_size = len(tokenizer)
    hidden = ((vocab_size + 63) // 64) * 64
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=8192,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=token_id("<|endoftext|>"),
        architectures=["Qwen3ForCausalLM"],
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(torch.float32).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        embed = torch.zeros(vocab_size, hidden)
        embed[torch.arange(vocab_size), torch.arange(vocab_size)] = 1.0
        model.model.embed_tokens.weight.copy_(embed)
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
        head = torch.zeros(vocab_size, hidden)
        for tok_id in range(vocab_size):
            head[successor.get(tok_id, eos_id), tok_id] = 1.0
        model.lm_head.weight.copy_(head)
    model.generation_config = GenerationConfig(
        do_sample=False,
        eos_token_id=eos_id,
        pad_token_id=token_id("<|endoftext|>"),
        max_new_tokens=256,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "parameters": sum(p.numel() for p in model.parameters()),
        "variant": variant,
        "chain_tokens": len(on_chain),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "models",
        nargs="+",
        metavar="VARIANT=DIR",
        help="what to build where, e.g. reasoner=/tmp/a plain=/tmp/b",
    )
    args = parser.parse_args(argv)
    for item in args.models:
        variant, sep, out_dir = item.partition("=")
        if not sep or not out_dir:
            parser.error(f"expected VARIANT=DIR, got {item!r}")
        print(json.dumps({"dir": out_dir, **build(Path(out_dir), variant)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
