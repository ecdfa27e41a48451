"""The dashboard over HTTP, as any client sees it: the token, CSRF, hosts, the JSON it serves."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from squall.ui.security import csrf_token
from tests.e2e.jobtools import poll
from tests.ui.conftest import Server, Workspace


def request(
    server: Server,
    path: str,
    *,
    method: str = "GET",
    token: bool = True,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host = urllib.parse.urlsplit(server.url).netloc
    con = http.client.HTTPConnection(host, timeout=30)
    sent = dict(headers or {})
    if token:
        sent.setdefault("Cookie", f"squall_ui_{host.rsplit(':', 1)[1]}={server.token}")
    try:
        con.request(method, path, headers=sent)
        resp = con.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        con.close()


def get_json(server: Server, path: str) -> Any:
    status, _, body = request(server, path)
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("path", ["/", "/api/jobs", "/api/jobs/FINISHED", "/static/app.js"])
def test_a_request_without_the_token_is_refused(server: Server, path: str) -> None:
    status, _, body = request(server, path, token=False)
    assert status == 403
    assert server.token not in body.decode()
    assert request(server, path + "?token=wrong", token=False)[0] == 403
    bearer = {"Authorization": f"Bearer {server.token}"}
    assert request(server, path, token=False, headers=bearer)[0] == 200


def test_the_token_in_the_address_becomes_a_cookie(server: Server) -> None:
    status, headers, _ = request(server, f"/jobs/FINISHED?token={server.token}", token=False)
    assert status == 303
    assert headers["location"] == "/jobs/FINISHED"
    cookie = headers["set-cookie"]
    assert server.token in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_another_host_name_is_refused(server: Server) -> None:
    # A page of another site reaching the server by DNS rebinding names its own host.
    status, _, _ = request(server, "/api/jobs", headers={"Host": "evil.example:80"})
    assert status == 403


def test_a_post_needs_the_csrf_token_and_a_matching_origin(
    server: Server, workspace: Workspace
) -> None:
    # FINISHED is DONE: cancelling it changes nothing, so the request is safe to repeat.
    path = "/api/jobs/FINISHED/cancel"
    assert request(server, path, method="POST")[0] == 403
    wrong = {"X-Squall-CSRF": "0" * 64}
    assert request(server, path, method="POST", headers=wrong)[0] == 403
    good = {"X-Squall-CSRF": csrf_token(server.token)}
    other = {**good, "Origin": "http://evil.example"}
    assert request(server, path, method="POST", headers=other)[0] == 403
    status, _, body = request(server, path, method="POST", headers=good)
    assert status == 200, body
    assert json.loads(body) == {"name": "FINISHED", "status": "DONE"}
    status, _, body = request(server, "/api/jobs/FINISHED/explode", method="POST", headers=good)
    assert status == 404 and b"'explode'" in body


def test_pages_carry_a_strict_content_security_policy(server: Server) -> None:
    status, headers, body = request(server, "/")
    assert status == 200
    assert "script-src 'self'" in headers["content-security-policy"]
    assert csrf_token(server.token) in body.decode()
    assert server.token not in body.decode()


def test_job_list_is_newest_first_filtered_and_paged(server: Server) -> None:
    everything = get_json(server, "/api/jobs?per_page=50")
    names = [j["name"] for j in everything["jobs"]]
    assert names == ["RUNNING_JOB", "SOME_ERRORS", "BROKEN", "FINISHED"]
    assert get_json(server, "/api/jobs?status=FAILED")["jobs"][0]["name"] == "BROKEN"
    first = get_json(server, "/api/jobs?per_page=3")
    second = get_json(server, "/api/jobs?per_page=3&page=2")
    assert first["has_more"] and not second["has_more"]
    assert [j["name"] for j in first["jobs"] + second["jobs"]] == names
    status, _, body = request(server, "/api/jobs?status=SLEEPING")
    assert status == 400 and b"SLEEPING" in body


def test_the_list_answers_304_while_nothing_changed(server: Server) -> None:
    _, headers, _ = request(server, "/api/jobs?status=DONE")
    status, _, body = request(
        server, "/api/jobs?status=DONE", headers={"If-None-Match": headers["etag"]}
    )
    assert status == 304 and body == b""


def test_a_job_page_has_its_spec_shards_timeline_and_output(server: Server) -> None:
    d = get_json(server, "/api/jobs/FINISHED")
    assert d["job"]["status"] == "DONE"
    assert d["spec"]["function"] == "predict" and d["spec"]["params"] == {"factor": 2.0}
    assert "output_dir" not in d["spec"] and "scratch_dir" not in d["spec"]
    assert [s["rows"] for s in d["shards"]] == [25, 25, 25, 25]
    assert sorted(a["shard"] for a in d["attempts"]) == [0, 1, 2, 3]
    assert {a["status"] for a in d["attempts"]} == {"DONE"}
    assert all(a["ended"] >= a["started"] for a in d["attempts"])
    assert sum(rows for _, rows in d["throughput"]) > 0
    names = sorted(o["name"] for o in d["outputs"])
    assert names == ["_SUCCESS", *[f"part-{i:06d}.parquet" for i in range(4)]]


def test_error_rows_are_sampled_from_the_output(server: Server) -> None:
    e = get_json(server, "/api/jobs/SOME_ERRORS/errors")
    assert e["error_rows"] == 1
    x = e["columns"].index("x")
    err = e["columns"].index("_ERROR")
    assert [(row[x], "unlucky row x == 13" in row[err]) for row in e["rows"]] == [(13.0, True)]


def test_parquet_preview_shows_the_first_rows_and_schema(server: Server) -> None:
    d = get_json(server, "/api/jobs/FINISHED")
    part = next(o["path"] for o in d["outputs"] if o["name"].endswith(".parquet"))
    p = get_json(server, "/api/preview?" + urllib.parse.urlencode({"path": part}))
    assert p["kind"] == "parquet" and p["num_rows"] == 25
    assert [f["name"] for f in p["schema"]][-1] == "doubled"
    col = p["columns"].index("doubled")
    xs = [row[p["columns"].index("x")] for row in p["rows"]]
    assert [row[col] for row in p["rows"]] == [2 * x for x in xs]
    assert len(p["rows"]) == 20


def test_stage_browsing_lists_folders_then_files(server: Server) -> None:
    # the running job's folder shows once its first part is committed (parts being written
    # are never listed)
    def folders() -> list[str]:
        return [f["name"] for f in get_json(server, "/api/stage?path=@results")["folders"]]

    poll(lambda: "running" in folders(), 120, "the running job's first committed part")
    assert folders() == ["done", "errors", "running"]
    root = get_json(server, "/api/stage?path=@results")
    assert root["parent"] is None
    cats = get_json(server, "/api/stage?path=@images/cats/")
    assert [f["name"] for f in cats["files"]] == ["red.png"] and cats["parent"] == "@images/"
    status, headers, body = request(server, "/api/image?path=@images/cats/red.png")
    assert status == 200 and headers["content-type"] == "image/png"
    assert body.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "path", ["@results/../../catalog.db", "/etc/passwd", "@images/../secrets/x.png", "@nostage/x"]
)
def test_previews_obey_the_stage_path_rules(
    server: Server, workspace: Workspace, path: str
) -> None:
    for endpoint in ("/api/preview", "/api/image", "/api/stage"):
        status, _, body = request(server, f"{endpoint}?" + urllib.parse.urlencode({"path": path}))
        assert status in (400, 404), (endpoint, path, body)
        assert str(workspace.home) not in body.decode()


def test_only_images_are_served_as_files(server: Server) -> None:
    d = get_json(server, "/api/jobs/FINISHED")
    part = next(o["path"] for o in d["outputs"] if o["name"].endswith(".parquet"))
    status, _, body = request(server, "/api/image?" + urllib.parse.urlencode({"path": part}))
    assert status == 400 and b"not an image" in body


def test_models_show_signatures_params_and_their_jobs(server: Server) -> None:
    models = {m["name"]: m for m in get_json(server, "/api/models")["models"]}
    assert set(models) == {"DOUBLER", "FAILING", "SLEEPY"}
    (v1,) = models["DOUBLER"]["versions"]
    assert v1["name"] == "V1" and v1["is_default"]
    (fn,) = v1["functions"]
    assert fn["name"] == "predict"
    assert [p["name"] for p in fn["signature"]["params"]] == ["factor"]
    assert [j["name"] for j in v1["jobs"]] == ["FINISHED"]
    (failing,) = models["FAILING"]["versions"]
    assert [j["name"] for j in failing["jobs"]] == ["SOME_ERRORS", "BROKEN"]


def test_a_host_other_than_loopback_needs_an_explicit_flag(workspace: Workspace) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "squall", "--home", str(workspace.home), "ui", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    assert "'0.0.0.0' is not loopback" in res.stderr and "--allow-remote" in res.stderr
    assert "token=" not in res.stdout + res.stderr


def test_previews_refuse_links_leading_out_of_the_stage(
    server: Server, workspace: Workspace, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not yours")
    stage, _ = workspace.session.stages.resolve("@images/")
    folder = Path(stage.full_path("links"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leak.png").symlink_to(secret)
    listed = get_json(server, "/api/stage?path=@images/links/")
    assert listed["files"] == []
    for endpoint in ("/api/preview", "/api/image"):
        status, _, body = request(server, f"{endpoint}?path=@images/links/leak.png")
        assert status in (400, 404), (endpoint, body)
        assert b"not yours" not in body and str(tmp_path).encode() not in body
