"""renderer/runtime/redact.py: the one list of secret-looking names and the one way a value is hidden,
used by the runner, smoke, the supervision code in deploy.py and rule SS123."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from renderer.runtime import redact
from renderer.runtime.redact import REDACTED, Redactor, looks_secret


@pytest.mark.parametrize("name", ["HF_TOKEN", "MODAL_TOKEN_SECRET", "SGLANG_API_KEY",
                                  "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "ftp_passwd",
                                  "GOOGLE_APPLICATION_CREDENTIALS", "hf_token"])
def test_secret_looking_names(name):
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "CUDA_VISIBLE_DEVICES", "SGLANG_LOG_LEVEL",
                                  "NCCL_IB_DISABLE", "HF_HUB_ENABLE_HF_TRANSFER"])
def test_ordinary_names(name):
    assert not looks_secret(name)


def test_every_value_is_hidden_longest_first_in_one_pass():
    hide = Redactor(["abc", "", None, "abcdef"])
    assert hide("key=abcdef, short=abc, none=xyz") == "key=***, short=***, none=xyz"
    assert Redactor([])("unchanged") == "unchanged"
    # A secret that looks like the mask, or holds regex syntax, is still matched literally.
    assert Redactor(["a.c", "*"])("abc a.c *") == f"abc {REDACTED} {REDACTED}"


def test_from_env_picks_by_name_and_by_extra_name_with_a_length_floor():
    env = {"HF_TOKEN": "hf_abcdef", "MY_SETTING": "visible", "ENDPOINT_KEY_VAR": "12",
           "CUSTOM": "sk-custom-value", "PATH": "/usr/bin"}
    hide = Redactor.from_env(env, ["CUSTOM"])
    text = "hf_abcdef visible 12 sk-custom-value /usr/bin"
    assert hide(text) == "*** visible 12 *** /usr/bin"


def test_deep_redacts_before_serializing():
    secret = 'se"cret-value'
    hide = Redactor([secret])
    payload = {"a": [secret, {"b": f"x {secret} y"}], "n": 3, "none": None}
    out = json.dumps(hide.deep(payload))
    assert "cret-value" not in out and '"n": 3' in out


def test_redact_is_standard_library_only_and_has_no_future_import():
    """It is pasted into deploy.py mid-file: a __future__ import there is a SyntaxError, and a
    third-party import might be missing from the container image."""
    tree = ast.parse(Path(redact.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module != "__future__" and node.level == 0
            assert node.module.split(".")[0] in {"re", "collections"}
        elif isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in {"re", "collections"} for a in node.names)


def test_rule_ss123_reads_the_same_list(spec_dir):
    """A name only the shared list knows (CREDENTIAL) trips the rule: one list, not two."""
    from conftest import findings_of

    spec = spec_dir / "specs" / "glm51-fp8-b200.yaml"
    spec.write_text(spec.read_text().replace(
        "  enable_metrics: true\n",
        "  enable_metrics: true\n  env:\n    GOOGLE_APPLICATION_CREDENTIALS: /x.json\n"))
    _, findings = findings_of(str(spec), cwd=spec_dir)
    assert [f["path"] for f in findings if f["rule"] == "SS123"] == [
        "engine.env.GOOGLE_APPLICATION_CREDENTIALS"]
