"""What `servespec model-facts` reads: config.json and the checkpoint's size, from a local folder
or file (offline, standard library only) or from a Hugging Face Hub repository (huggingface_hub,
the `facts` extra, imported only on that path).

The checkpoint's size, first found wins:
  1. model.safetensors.index.json metadata.total_size (beside config.json, or --index FILE);
  2. the headers of the *.safetensors files in the folder (8-byte length + JSON: every tensor's
     dtype, shape and byte range), without reading a weight; on the Hub, huggingface_hub's
     get_safetensors_metadata reads the same headers with range requests;
  3. --checkpoint-bytes N (a size the model card states);
  4. none: the facts compute it from config.json's tensor shapes and say so.

The chat templates beside config.json, when there (renderer/facts/template.py names the files):
each optional, none of them fetched when the source is a bare config.json file.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from renderer.facts import template as chat_template

CONFIG = "config.json"
INDEX = "model.safetensors.index.json"
CARD = "README.md"
_CARD_ROPE = re.compile(r'"rope_scaling"\s*:\s*(\{[^{}]*\})')
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
HEADER_LIMIT = 100 << 20  # safetensors refuses headers over 100 MB too


class FactsError(Exception):
    """A one-sentence reason the facts could not be produced."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage  # the user's input is wrong (exit 2), not the world (exit 1)


@dataclass
class Inputs:
    config: dict
    repo: str | None
    revision: str | None
    total_size: int | None = None  # tensor bytes of the checkpoint
    total_parameters: int | None = None  # the index's metadata.total_parameters, when it has one
    size_from: str | None = None  # where total_size came from, for the facts file's comment
    card_rope_scaling: dict | None = None  # the rope_scaling the model card tells users to add
    notes: dict = field(default_factory=dict)  # fact -> how it was decided, for its comment
    chat_templates: list = field(default_factory=list)  # (where, template text) of each found


def is_local(source: str) -> bool:
    """A path that exists, or that cannot be a Hub repository id."""
    return Path(source).expanduser().exists() or not REPO_ID.match(source)


# --- a local folder or file ---------------------------------------------------------------


def read_local(source: str, *, index: str | None = None, repo: str | None = None,
               revision: str | None = None, checkpoint_bytes: int | None = None) -> Inputs:
    path = Path(source).expanduser()
    if not path.exists():
        raise FactsError(f"{source}: no such file or folder" + (
            "" if REPO_ID.match(source) else ", nor a Hub repository id (ORG/NAME)"), usage=True)
    folder = path if path.is_dir() else path.parent
    config_path = folder / CONFIG if path.is_dir() else path
    if not config_path.is_file():
        raise FactsError(f"{folder} has no {CONFIG}", usage=True)
    cached_repo, cached_commit = hub_cache_identity(folder)
    inputs = Inputs(read_json(config_path), repo or cached_repo, revision or cached_commit)
    if (folder / CARD).is_file():
        inputs.card_rope_scaling = card_rope_scaling(_read_text(folder / CARD))
    if path.is_dir() or path.name == CONFIG:
        for name in chat_template.TEMPLATE_FILES:
            _add_templates(inputs, name, folder / name)
    index_path = Path(index).expanduser() if index else folder / INDEX if path.is_dir() or \
        path.name == CONFIG else None
    if index and not index_path.is_file():
        raise FactsError(f"no such index file: {index}", usage=True)
    if index_path is not None and index_path.is_file():
        _from_index(inputs, read_json(index_path), index_path.name)
    elif path.is_dir() and (shards := sorted(folder.glob("*.safetensors"))):
        inputs.total_size = sum(safetensors_bytes(p) for p in shards)
        inputs.size_from = f"the headers of {len(shards)} safetensors file(s)"
    _given_size(inputs, checkpoint_bytes)
    return inputs


def _from_index(inputs: Inputs, index: dict, name: str) -> None:
    meta = index.get("metadata") or {}
    size = meta.get("total_size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise FactsError(f"{name} has no metadata.total_size (a positive whole number)")
    inputs.total_size, inputs.size_from = size, f"{name} metadata.total_size"
    params = meta.get("total_parameters")
    if isinstance(params, int) and not isinstance(params, bool) and params > 0:
        inputs.total_parameters = params


def _given_size(inputs: Inputs, checkpoint_bytes: int | None) -> None:
    if checkpoint_bytes is None:
        return
    if inputs.total_size is not None and inputs.total_size != checkpoint_bytes:
        raise FactsError(f"--checkpoint-bytes {checkpoint_bytes} contradicts {inputs.size_from}"
                         f" ({inputs.total_size})", usage=True)
    inputs.total_size = checkpoint_bytes
    inputs.size_from = inputs.size_from or "--checkpoint-bytes"


def _add_templates(inputs: Inputs, name: str, path: Path | None) -> None:
    """The chat templates of one optional file (absent: nothing to add)."""
    if path is None or not path.is_file():
        return
    found = (chat_template.from_jinja(name, _read_text(path)) if name.endswith(".jinja")
             else chat_template.from_json(name, read_json(path)))
    inputs.chat_templates.extend(found)


def safetensors_bytes(path: Path) -> int:
    """Tensor bytes of one safetensors file, from its header alone."""
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > HEADER_LIMIT:
                raise ValueError(f"a {length}-byte header")
            header = json.loads(fh.read(length))
        return sum(int(t["data_offsets"][1]) - int(t["data_offsets"][0])
                   for name, t in header.items() if name != "__metadata__")
    except (OSError, struct.error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise FactsError(f"{path.name} is not a readable safetensors file: {exc}") from None


def hub_cache_identity(folder: Path) -> tuple[str | None, str | None]:
    """(repo, commit) of a folder inside the Hub cache: models--ORG--NAME/snapshots/<commit>."""
    parts = folder.resolve().parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        org_name = parts[-3].removeprefix("models--").split("--", 1)
        repo = "/".join(org_name) if len(org_name) == 2 else None
        return repo, parts[-1] if _COMMIT.match(parts[-1]) else None
    return None, None


def card_rope_scaling(card: str) -> dict | None:
    """The rope_scaling block a model card (README.md) shows, as Qwen's cards do for YaRN:
    `"rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}`."""
    for match in _CARD_ROPE.finditer(card):
        try:
            block = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(block, dict) and (block.get("rope_type") or block.get("type")):
            return block
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FactsError(f"{path.name} is not readable JSON: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise FactsError(f"{path.name} is not a JSON object")
    return data


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- the Hugging Face Hub ------------------------------------------------------------------


def read_hub(repo: str, revision: str | None, *, local_dir: str | Path | None = None,
             cache_dir: str | Path | None = None, offline: bool = False,
             checkpoint_bytes: int | None = None) -> Inputs:
    """config.json and the index through huggingface_hub (its cache when offline)."""
    try:
        from huggingface_hub import errors as hf_errors
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import logging as hf_logging
    except ImportError:
        raise FactsError("huggingface-hub is not installed: pip install 'servespec[facts]'"
                         " (or give a local folder holding config.json)") from None
    hf_logging.set_verbosity_error()  # it logs each retry; the one sentence at the end says enough

    def get(filename: str, optional: bool = False) -> Path | None:
        try:
            return Path(hf_hub_download(repo_id=repo, filename=filename, revision=revision,
                                        local_dir=local_dir, cache_dir=cache_dir,
                                        local_files_only=offline))
        except hf_errors.RemoteEntryNotFoundError:
            if optional:
                return None
            raise FactsError(f"{repo} has no {filename}") from None
        except hf_errors.LocalEntryNotFoundError as exc:
            if optional:
                return None  # offline and not cached: the size is computed instead
            raise FactsError(f"cannot reach the Hugging Face Hub and {filename} of {repo} is not"
                             f" in the local cache: {first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - every other Hub failure is one sentence
            raise _hub_error(exc, repo, revision, hf_errors) from None

    config_path = get(CONFIG)
    inputs = Inputs(read_json(config_path), repo, _commit_of(config_path, revision))
    card_path = get(CARD, optional=True)
    if card_path is not None:
        inputs.card_rope_scaling = card_rope_scaling(_read_text(card_path))
    for name in chat_template.TEMPLATE_FILES:
        _add_templates(inputs, name, get(name, optional=True))
    index_path = get(INDEX, optional=True)
    if index_path is not None:
        _from_index(inputs, read_json(index_path), INDEX)
    elif not offline and local_dir is None:
        _from_hub_headers(inputs, repo, revision)
    _given_size(inputs, checkpoint_bytes)
    return inputs


def _from_hub_headers(inputs: Inputs, repo: str, revision: str | None) -> None:
    """A checkpoint without an index (one model.safetensors): its header, by range request."""
    from huggingface_hub import get_safetensors_metadata

    try:
        meta = get_safetensors_metadata(repo, revision=revision)
    except Exception:  # noqa: BLE001 - no safetensors at all: the size is computed instead
        return
    inputs.total_size = sum(int(t.data_offsets[1]) - int(t.data_offsets[0])
                            for f in meta.files_metadata.values() for t in f.tensors.values())
    inputs.size_from = "the safetensors headers on the Hub"


def _hub_error(exc: Exception, repo: str, revision: str | None, hf_errors) -> FactsError:
    if isinstance(exc, hf_errors.HFValidationError):
        return FactsError(f"'{repo}' is neither a local file or folder nor a valid repository id:"
                          f" {first_line(exc)}", usage=True)
    if isinstance(exc, hf_errors.GatedRepoError):
        return FactsError(f"{repo} is gated: accept its terms on the Hub and set HF_TOKEN")
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return FactsError(f"no repository {repo} on the Hub (or it is private: set HF_TOKEN),"
                          " and no local folder of that name")
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return FactsError(f"{repo} has no revision '{revision}'")
    return FactsError(f"cannot reach the Hugging Face Hub: {first_line(exc)}")


def _commit_of(path: Path, revision: str | None) -> str | None:
    """The commit a file came from: the hub cache keeps files under snapshots/<commit>/."""
    if revision and _COMMIT.match(revision):
        return revision
    return hub_cache_identity(path.parent)[1]
