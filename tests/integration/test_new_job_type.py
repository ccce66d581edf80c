"""A sixth job type from one module and one profile entry, in a temporary catalog.

The module (``omvee_dubbing``, outside the repository, named by ``OMVEE_JOB_TYPE_MODULES``) and a
profiles file with its entry are all this test writes. From them alone: the generated CRD
accepts the type on the real API server, the API serves its typed route (OpenAPI), lists it at
``/v1/types`` and takes a submission on it; the operator runs it as a Job on kwok's nodes; the
mirror writes its ``jobs`` row once ``migrate`` has widened the type check; the generated chart
values schema accepts its profile (``helm template``); and the dashboard, in real Chromium,
offers it in its type filter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from kubernetes import client
from playwright.sync_api import expect, sync_playwright

from api.catalog.profiles import DEFAULT_PROFILES
from controller.mirror import migrate
from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.crds import apply_crd, install_crd
from tests.helm import CHART, KUBE_VERSION, Helm, HelmError
from tests.kwokplacement import kwok_catalog
from tests.localcluster.layout import REPO_ROOT
from tests.omveejobs import OmveeJobs
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

TYPE = "dubbing"
MODULE = '''
"""Dubbing: a transcript read out in another voice (the sixth job type of a test)."""

from pydantic import Field

from api.catalog.definition import JobInput, JobTypeDefinition


class DubbingInput(JobInput):
    audio_url: str = Field(pattern=r"^https?://", max_length=2048)
    voice: str = Field("en-us", pattern=r"^[a-z]{2}(-[a-z]{2})?$")


DEFINITION = JobTypeDefinition(
    name="dubbing",
    input_model=DubbingInput,
    route="dubbings",
    operation_id="dub",
    summary="Dub a project's audio",
    title="Dubbing",
    order=60,
)
'''
PROFILE = {
    "image": "ghcr.io/omvee/job-dubbing:0.1.0",
    "command": ["python", "-m", "jobimages.dubbing"],
    "timeoutSeconds": 600,
    "pendingTimeoutSeconds": 300,
}


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary catalog: the type's module and a profiles file with its entry (kwok's
    placement added, as for every type the kwok-era tests run)."""
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "omvee_dubbing.py").write_text(MODULE)
    profiles = yaml.safe_load(DEFAULT_PROFILES.read_text())
    profiles["types"][TYPE] = PROFILE
    (folder / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    (folder / "profiles-kwok.yaml").write_text(yaml.safe_dump(kwok_catalog(profiles)))
    return folder


def catalog_env(folder: Path) -> dict[str, str]:
    return {
        "PYTHONPATH": f"{folder}:{REPO_ROOT}",
        "OMVEE_JOB_TYPE_MODULES": "omvee_dubbing",
        "OMVEE_PROFILES": str(folder / "profiles-kwok.yaml"),
    }


def run_python(folder: Path, *args: str) -> str:
    """``python <args>`` with the temporary catalog; its stdout. Fails the test on exit != 0."""
    result = subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **catalog_env(folder)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def widened_crd(catalog_dir: Path, k8s: client.ApiClient, crd: object) -> Iterator[None]:
    """The CRD generated with the temporary catalog, installed; the repository's back after."""
    apply_crd(k8s, yaml.safe_load(run_python(catalog_dir, "-m", "api.v1alpha1.crd")))
    yield
    install_crd(k8s)


@pytest.fixture
def fresh_db(postgres_url: str) -> Iterator[str]:
    name = f"newtype_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"drop database {name} with (force)")


def test_the_crd_refuses_the_type_until_generated_with_it(
    catalog_dir: Path, k8s: client.ApiClient, job_namespace: str, crd: object
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    body = dubbing_manifest("before")
    with pytest.raises(client.ApiException) as refused:
        ojobs.create(body)
    assert refused.value.status == 422 and "spec.type" in refused.value.body
    apply_crd(k8s, yaml.safe_load(run_python(catalog_dir, "-m", "api.v1alpha1.crd")))
    try:
        ojobs.create(body)
        assert ojobs.get("before")["spec"]["type"] == TYPE
        ojobs.delete("before")
    finally:
        install_crd(k8s)


def test_the_chart_values_schema_accepts_its_profile_once_generated(
    catalog_dir: Path, helm: Helm, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"jobs": {"types": {TYPE: PROFILE}}}))
    args = ("--include-crds", "--kube-version", KUBE_VERSION, "-f", str(values))
    with pytest.raises(HelmError, match=TYPE):  # the repository's chart knows five types
        helm.run("template", "omvee", str(CHART), *args)
    chart = tmp_path / "omvee"
    shutil.copytree(CHART, chart)
    (chart / "values.schema.json").write_text(
        run_python(catalog_dir, "-m", "api.catalog.chart", "--schema")
    )
    rendered = [
        d for d in yaml.safe_load_all(helm.run("template", "omvee", str(chart), *args).stdout) if d
    ]
    catalog = next(d for d in rendered if d["metadata"]["name"].endswith("-catalog"))
    profile = yaml.safe_load(catalog["data"]["profiles.yaml"])["types"][TYPE]
    assert profile["image"] == PROFILE["image"] and profile["timeoutSeconds"] == 600
    # and a profile the operator would refuse is refused by helm already
    values.write_text(yaml.safe_dump({"jobs": {"types": {TYPE: {**PROFILE, "retries": 99}}}}))
    with pytest.raises(HelmError, match="retries"):
        helm.run("template", "omvee", str(chart), *args)


def test_submitted_through_its_route_it_runs_is_mirrored_and_listed(
    catalog_dir: Path,
    widened_crd: None,
    kubeconfig: Path,
    k8s: client.ApiClient,
    job_namespace: str,
    fresh_db: str,
    operator: OperatorProcess,
) -> None:
    # The database: the repository's migrations refuse the type; migrate with it widens the check.
    migrate.apply(fresh_db, local=True)
    with pytest.raises(psycopg.errors.CheckViolation, match="jobs_type_check"):
        insert_row(fresh_db, TYPE)
    assert "jobs_type_check" in run_python(catalog_dir, "-m", "controller.mirror.migrate", fresh_db)
    with pytest.raises(psycopg.errors.CheckViolation):
        insert_row(fresh_db, "karaoke")  # an undeclared type is still refused

    env = catalog_env(catalog_dir)
    operator.stop()  # two operators would both act; this one knows the sixth type
    ours = OperatorProcess(
        kubeconfig,
        port_offset=94,
        log_name="operator-new-type.log",
        env={**env, "OMVEE_MIRROR_DSN": fresh_db},
    )
    api = ApiProcess(
        kubeconfig, job_namespace, port_offset=95, log_name="api-new-type.log", env=env
    )
    try:
        ours.start()
        api.start()
        with httpx.Client(
            base_url=api.url, timeout=30, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
        ) as http:
            openapi = http.get("/openapi.json").json()
            route = openapi["paths"]["/v1/projects/{project_id}/dubbings"]["post"]
            assert route["operationId"] == "dub"
            assert TYPE in openapi["components"]["schemas"]["JobType"]["enum"]
            listed = http.get("/v1/types").json()["items"]
            assert [t["name"] for t in listed][-1] == TYPE
            assert listed[-1]["path"] == "/v1/projects/{project_id}/dubbings"

            project = str(uuid.uuid4())
            refused = http.post(f"/v1/projects/{project}/dubbings", json={"voice": "en-us"})
            assert refused.status_code == 422 and "audio_url" in refused.text
            accepted = http.post(
                f"/v1/projects/{project}/dubbings",
                json={"audio_url": "https://media.example.com/a.mp3", "voice": "fr"},
            )
            assert accepted.status_code == 202, accepted.text
            job_id = accepted.json()["id"]

            def final() -> dict[str, object] | None:
                job = http.get(f"/v1/jobs/{job_id}").json()
                return job if job.get("phase") in ("Succeeded", "Failed", "Cancelled") else None

            job = wait_for(final, "the dubbing job to end", 90)
            assert job["phase"] == "Succeeded", (job, ours.log_tail())
            jobs = (
                client.BatchV1Api(k8s)
                .list_namespaced_job(job_namespace, label_selector=f"omvee.io/job-id={job_id}")
                .items
            )
            assert [j.spec.template.spec.containers[0].image for j in jobs] == [PROFILE["image"]]

            def mirrored() -> tuple[str, str] | None:
                with psycopg.connect(fresh_db) as connection:
                    row = connection.execute(
                        "select type, status from public.jobs where id = %s", [job_id]
                    ).fetchone()
                return (row[0], row[1]) if row and row[1] == "succeeded" else None

            assert wait_for(mirrored, "the dubbing row", 30) == (TYPE, "succeeded")
            check_dashboard_lists_it(api.url)
    finally:
        api.stop()
        ours.stop()
        operator.start()


def check_dashboard_lists_it(url: str) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed; `make sysdeps` installs Debian's"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{url}/dashboard")
            page.fill("#token", SERVICE_TOKEN)
            page.click("#login-form button")
            option = page.locator(f"#filter-type option[value={TYPE}]")
            expect(option).to_have_count(1, timeout=15_000)
            expect(page.locator("#filter-type option")).to_have_count(7)  # "all" + six
        finally:
            browser.close()


def insert_row(dsn: str, job_type: str) -> None:
    with psycopg.connect(dsn) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type) values (%s, %s, %s)",
            [str(uuid.uuid4()), str(uuid.uuid4()), job_type],
        )


def dubbing_manifest(name: str) -> dict[str, object]:
    return {
        "apiVersion": "omvee.io/v1alpha1",
        "kind": "OmveeJob",
        "metadata": {"name": name},
        "spec": {
            "type": TYPE,
            "projectId": str(uuid.uuid4()),
            "jobId": str(uuid.uuid4()),
            "input": {"audioUrl": "https://media.example.com/a.mp3"},
        },
    }
