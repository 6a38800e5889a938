"""Edge auth (renderer/resolve/edge.py and rule SS140): the proxy token from variables the spec names,
and the opt-out that validates with a warning and fails under --strict."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_cli

from renderer.pipeline import read_spec
from renderer.resolve import edge

OPT_OUT = ROOT / "tests" / "fixtures" / "rules" / "SS140-trip.yaml"


def test_headers_come_from_the_named_variables():
    proxy = edge.ProxyAuth("MY_ID", "MY_SECRET")
    env = {"MY_ID": "wk-1", "MY_SECRET": "ws-2", "MODAL_PROXY_TOKEN_ID": "wk-other"}
    assert edge.request_headers(proxy, "sk-3", env) == {
        "Modal-Key": "wk-1", "Modal-Secret": "ws-2", "Authorization": "Bearer sk-3"}
    assert proxy.secret_values(env) == ["wk-1", "ws-2"]


@pytest.mark.parametrize("env, missing", [({}, ["MY_ID", "MY_SECRET"]),
                                          ({"MY_ID": "wk-1", "MY_SECRET": "  "}, ["MY_SECRET"])])
def test_missing_variables_are_named_and_no_value_is_shown(env, missing):
    with pytest.raises(edge.ProxyTokenMissing) as raised:
        edge.ProxyAuth("MY_ID", "MY_SECRET").headers(env)
    assert raised.value.names == missing
    assert str(raised.value).startswith(" and ".join(missing) + (" is" if len(missing) == 1 else " are"))
    assert "wk-1" not in str(raised.value)


def test_the_spec_names_the_variables_and_public_means_none():
    default = read_spec(ROOT / "specs" / "glm51-fp8-b200.yaml").deployment.auth.proxy
    assert default == edge.ProxyAuth("MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET")
    assert read_spec(OPT_OUT).deployment.auth.proxy is None


def test_opting_out_validates_with_the_warning_and_fails_strict():
    plain = run_cli("validate", str(OPT_OUT))
    assert plain.returncode == 0, plain.stderr
    assert "warning: serving.auth.public: the endpoint is public at Modal's edge" in plain.stderr
    assert "$50.00/h per replica" in plain.stderr  # 8x B200 at the catalog's price
    strict = run_cli("validate", "--strict", str(OPT_OUT))
    assert strict.returncode == 1 and "[SS140]" in strict.stderr
