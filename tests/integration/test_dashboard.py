"""The dashboard in real headless Chromium (Debian's, driven by Playwright) against the API on the
local control plane: jobs submitted here appear, change on screen without a reload, and the
cancel and retry buttons work. Screenshots land in test-artifacts/."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.v1alpha1 import constants
from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess, results_dir, upstream_job
from tests.localcluster.layout import REPO_ROOT
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster
ARTIFACTS = Path(os.environ.get("OMVEE_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
LIVE = 30_000  # ms a change may take to reach the screen: operator resync + watch + render


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed; `make sysdeps` installs Debian's")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, api_server: ApiProcess) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{api_server.url}/dashboard")
    expect(opened.locator("#login")).to_be_visible()  # no token yet: the API said 401
    opened.fill("#token", SERVICE_TOKEN)
    opened.click("#login-form button")
    expect(opened.locator("#connection")).to_have_text("live", timeout=10_000)
    opened.evaluate("window.notReloaded = true")
    yield opened
    assert opened.evaluate("window.notReloaded") is True, "the page reloaded"
    assert errors == [], errors
    context.close()


@pytest.fixture
def cleanup(http: httpx.Client) -> Iterator[list[str]]:
    """Jobs to cancel at the end, so long-running ones free their nodes for later tests."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        http.post(f"/v1/jobs/{job_id}/cancel")


def submit(
    http: httpx.Client,
    project: str,
    job_type: str,
    run: str,
    cleanup: list[str],
    upstream: str = "",
) -> dict[str, Any]:
    """``upstream``: the project's transcription a scene-generation job takes input from."""
    inputs = {
        "transcription": {"audio_url": "https://media.example.com/a.mp3"},
        "scene-generation": {"transcript_job_id": upstream},
    }
    response = http.post(
        "/v1/jobs",
        json={
            "type": job_type,
            "project_id": project,
            "input": inputs[job_type],
            "pod_annotations": factories.pod_annotations(run_duration=run),
        },
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    cleanup.append(accepted["id"])
    return accepted


def phase_of(http: httpx.Client, job_id: str) -> str | None:
    phase: str | None = http.get(f"/v1/jobs/{job_id}").json()["phase"]
    return phase


def report(k8s: client.ApiClient, namespace: str, job_id: str, status: dict[str, Any]) -> None:
    """What a job pod's reporter writes (kwok's pods run no container to do it)."""
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object_status(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.PLURAL,
        f"job-{job_id}",
        {"status": status},
    )


def report_progress(k8s: client.ApiClient, namespace: str, job_id: str, percent: int) -> None:
    report(k8s, namespace, job_id, {"progress": percent, "progressMessage": f"decoding {percent}%"})


def row(page: Page, job_id: str) -> Any:
    return page.locator(f'tr[data-job-id="{job_id}"]')


def test_jobs_appear_and_change_live_and_gpu_waits_are_shown(
    page: Page, http: httpx.Client, k8s: client.ApiClient, api_namespace: str, cleanup: list[str]
) -> None:
    project = str(uuid.uuid4())
    page.fill("#filter-project", project)
    expect(page.locator("#empty")).to_be_visible()

    # the scene jobs' input, ended before the GPU jobs below need both GPUs
    upstream = upstream_job(http, project)
    wait_for(lambda: phase_of(http, upstream) == "Succeeded", "the transcription to end", 60)
    slow = submit(http, project, "scene-generation", "1h", cleanup, upstream)
    quick = submit(http, project, "scene-generation", "3s", cleanup, upstream)
    expect(row(page, slow["id"])).to_be_visible(timeout=LIVE)
    expect(row(page, quick["id"])).to_be_visible(timeout=LIVE)
    expect(row(page, slow["id"]).locator("td.type")).to_have_text("scene-generation")
    expect(row(page, slow["id"]).locator("td.phase")).to_have_text("Running", timeout=LIVE)
    expect(row(page, slow["id"]).locator("td.node")).to_contain_text("kwok-cpu-", timeout=LIVE)
    expect(row(page, quick["id"]).locator("td.phase")).to_have_text("Succeeded", timeout=LIVE)
    expect(row(page, quick["id"]).locator("td.attempts")).to_have_text("1")

    report_progress(k8s, api_namespace, slow["id"], 40)
    expect(row(page, slow["id"]).locator(".bar")).to_have_attribute(
        "data-progress", "40", timeout=LIVE
    )
    expect(row(page, slow["id"]).locator(".bar em")).to_have_text("40%")

    # Two GPU nodes, one GPU each: a third transcription waits for one.
    gpu = [submit(http, project, "transcription", "1h", cleanup) for _ in range(2)]
    for job in gpu:
        expect(row(page, job["id"]).locator("td.phase")).to_have_text("Running", timeout=LIVE)
    waiting = submit(http, project, "transcription", "1h", cleanup)
    expect(row(page, waiting["id"]).locator(".badge.gpu")).to_have_text(
        "waiting for GPU", timeout=LIVE
    )
    expect(row(page, waiting["id"]).locator("td.phase")).to_have_text("Pendingwaiting for GPU")
    for job in gpu:
        expect(row(page, job["id"]).locator(".badge.gpu")).to_have_count(0)

    expect(page.locator("#shown")).to_contain_text("6 of ")
    counts = page.locator("#type-counts [data-count=transcription] b")
    assert int(counts.inner_text()) >= 4
    page.select_option("#filter-type", "transcription")
    expect(page.locator("#job-rows tr")).to_have_count(4)
    page.select_option("#filter-phase", "Pending")
    expect(page.locator("#job-rows tr")).to_have_count(1)
    page.select_option("#filter-phase", "")
    page.select_option("#filter-type", "")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard-table.png", full_page=True)


def test_job_page_shows_timeline_attempts_log_and_its_buttons_work(
    page: Page, http: httpx.Client, k8s: client.ApiClient, api_namespace: str, cleanup: list[str]
) -> None:
    project = str(uuid.uuid4())
    job = submit(http, project, "scene-generation", "1h", cleanup, upstream_job(http, project))
    wait_for(lambda: phase_of(http, job["id"]) == "Running", "the job to run", 60)
    report_progress(k8s, api_namespace, job["id"], 25)
    page.fill("#filter-project", project)
    row(page, job["id"]).click()

    expect(page.locator("#job-view")).to_be_visible()
    expect(page.locator("#job-title")).to_have_text(f"scene-generation · {job['id']}")
    expect(page.locator("#job-phase")).to_have_text("Running", timeout=LIVE)
    expect(page.locator("#job-progress")).to_have_attribute("data-progress", "25")
    expect(page.locator("#job-gpu")).to_be_hidden()  # a CPU job never waits for a GPU
    expect(page.locator("#timeline li").first).to_contain_text("Submitted")
    expect(page.locator("#timeline")).to_contain_text("Running: running on kwok-cpu-")
    expect(page.locator("#attempt-rows tr")).to_have_count(1)
    expect(page.locator("#attempt-rows tr").first).to_contain_text(f"job-{job['id']}-r0-")
    expect(page.locator("#log")).to_contain_text("omvee fake job: step 1 of 3")
    expect(page.locator("#retry")).to_be_disabled()

    report_progress(k8s, api_namespace, job["id"], 60)  # the page follows without a reload
    expect(page.locator("#job-progress em")).to_have_text("60%", timeout=LIVE)
    scenes = "https://files.example.com/job-results/scenes.json"
    # as a job pod stores a file on the results volume and names it in its result
    stored = results_dir() / project / job["id"] / "run-0" / "scenes.json"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text('{"scenes": []}')
    files = {"json": f"file:///var/lib/omvee/results/{project}/{job['id']}/run-0/scenes.json"}
    result = {"scenes_url": scenes, "scenes": 12, "files": files}
    report(k8s, api_namespace, job["id"], {"result": result})
    expect(page.locator(f'#job-facts a[href="{scenes}"]')).to_have_text(scenes, timeout=LIVE)
    expect(page.locator("#job-facts .result")).to_contain_text("scenes: 12")
    link = f"/v1/jobs/{job['id']}/results/scenes.json"
    expect(page.locator(f'#job-facts .result-files a[href="{link}"]')).to_have_text("scenes.json")
    assert http.get(link).json() == {"scenes": []}

    page.click("#cancel")
    expect(page.locator("#job-phase")).to_have_text("Cancelled", timeout=LIVE)
    expect(page.locator("#cancel")).to_be_disabled()
    expect(page.locator("#timeline")).to_contain_text("Cancelled", timeout=LIVE)
    assert phase_of(http, job["id"]) == "Cancelled"

    page.click("#retry")
    expect(page.locator("#job-phase")).to_have_text("Running", timeout=LIVE)
    expect(page.locator("#job-facts")).to_contain_text("Run1")
    expect(page.locator("#attempt-rows tr")).to_have_count(2, timeout=LIVE)
    assert http.get(f"/v1/jobs/{job['id']}").json()["run"] == 1

    expect(page.locator("#retry")).to_be_disabled()  # not while it runs
    expect(page.locator("#action-error")).to_have_text("")
    cancelled = page.locator("#attempt-rows tr").first
    expect(cancelled).to_contain_text("Cancelled")
    cancelled.locator("button").click()
    expect(page.locator("#log-title")).to_have_text("Log · run 0, attempt 1")
    expect(page.locator("#log")).to_contain_text("(Cancelled)")
    expect(page.locator("#log")).to_contain_text("omvee fake job: step 3 of 3")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard-job.png", full_page=True)
