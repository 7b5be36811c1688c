"""Every page carries a Content-Security-Policy that forbids inline and foreign scripts."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/s/demo/", "/admin/login/", "/healthz"])
def test_pages_carry_a_strict_script_policy(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-eval" not in policy
