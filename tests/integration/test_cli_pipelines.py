"""`omvee pipelines list|get` against the local control plane, through both backends: the
cluster (an admin kubeconfig) and the REST API (a service token)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.catalog.pipelines import PIPELINE_ORDER
from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.integration.test_cli import error_line, omvee
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]
AUDIO = "https://media.example.com/projects/episode-1.mp3"


def finished_pipeline(http: httpx.Client) -> tuple[str, str, dict[str, Any]]:
    """A 5-step pipeline of a new project, once it has succeeded: (project, id, its view)."""
    pid = str(uuid.uuid4())
    response = http.post(
        f"/v1/projects/{pid}/pipelines",
        json={"audio_url": AUDIO, "pod_annotations": factories.pod_annotations()},
    )
    assert response.status_code == 202, response.text
    pipeline = response.json()["id"]

    def succeeded() -> dict[str, Any] | None:
        view: dict[str, Any] = http.get(f"/v1/pipelines/{pipeline}").json()
        return view if view["phase"] == "Succeeded" else None

    return pid, pipeline, wait_for(succeeded, f"pipeline {pipeline} to succeed", 120)


def test_pipelines_list_and_get_through_the_api_and_the_cluster(
    kubeconfig: Path, api_server: ApiProcess, http: httpx.Client, api_namespace: str
) -> None:
    pid, pipeline, view = finished_pipeline(http)
    api = ("--api", api_server.url, "--token", SERVICE_TOKEN)
    cluster = ("-n", api_namespace)

    # through the API: its own views, unchanged
    listed = json.loads(
        omvee(kubeconfig, *api, "pipelines", "list", "--project-id", pid, "-o", "json").stdout
    )
    assert listed == http.get("/v1/pipelines", params={"project_id": pid}).json()["items"]
    got = json.loads(omvee(kubeconfig, *api, "pipelines", "get", pipeline, "-o", "json").stdout)
    assert got == view
    table = omvee(kubeconfig, *api, "pipelines", "list", "--project-id", pid).stdout
    assert table.splitlines()[0].split() == ["ID", "PROJECT", "PHASE", "STEPS", "AGE"]
    assert table.splitlines()[1].split()[:4] == [pipeline, pid, "Succeeded", "5"]

    # through the cluster: the same, with namespaces
    listed = json.loads(
        omvee(kubeconfig, *cluster, "pipelines", "list", "--project", pid, "-o", "json").stdout
    )
    assert listed == [
        {"namespace": api_namespace} | p
        for p in http.get("/v1/pipelines", params={"project_id": pid}).json()["items"]
    ]
    got = json.loads(omvee(kubeconfig, *cluster, "pipelines", "get", pipeline, "-o", "json").stdout)
    assert {k: v for k, v in got.items() if k not in ("namespace", "steps")} == {
        k: v for k, v in view.items() if k != "steps"
    }
    assert got["namespace"] == api_namespace
    plain = [{k: v for k, v in s.items() if k not in ("namespace", "name")} for s in got["steps"]]
    assert plain == view["steps"]
    table = omvee(kubeconfig, *cluster, "pipelines", "list", "--project-id", pid).stdout
    assert table.splitlines()[0].split()[:2] == ["NAMESPACE", "ID"]

    for backend in (api, cluster):
        detail = omvee(kubeconfig, *backend, "pipelines", "get", pipeline).stdout
        assert f"Pipeline:      {pipeline}" in detail
        assert "Phase:         Succeeded" in detail
        head, _, steps = detail.partition("\n\n")
        rows = steps.splitlines()
        assert rows[0].split() == [
            "STEP",
            "TYPE",
            "PHASE",
            "PROGRESS",
            "JOB",
            "REASON",
            "/",
            "MESSAGE",
        ]
        assert [row.split()[:5] for row in rows[1:]] == [
            [str(n), s["type"], "Succeeded", "100%", s["id"]]
            for n, s in enumerate(view["steps"], 1)
        ]
        for row, step in zip(rows[1:], view["steps"], strict=True):
            why = ": ".join(x for x in (step["reason"], step["message"]) if x)
            assert row.endswith(why)
        assert [row.split()[1] for row in rows[1:]] == list(PIPELINE_ORDER)
        assert ("Namespace:" in head) == (backend == cluster)

        unknown = str(uuid.uuid4())
        missing = omvee(kubeconfig, *backend, "pipelines", "get", unknown, ok=False)
        assert error_line(missing) == f"no pipeline {unknown}"
        assert error_line(omvee(kubeconfig, *backend, "pipelines", "get", "x", ok=False)) == (
            "no pipeline x: a pipeline id is a UUID"
        )
        nothing = omvee(kubeconfig, *backend, "pipelines", "list", "--project-id", unknown)
        assert nothing.stdout.strip() == "No pipelines found."
