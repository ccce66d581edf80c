"""The dashboard's pipeline graph in real headless Chromium (Debian's, driven by Playwright)
against the API and the operator on the local control plane: a pipeline submitted here is found
in the pipelines list, its steps drawn as boxes joined by arrows; the later steps say what they
wait for and then succeed on screen without a reload; a box leads to its job's page and back; a
failed first step ends the others with it named, and the pipeline's Retry and Cancel buttons
work. Screenshots land in test-artifacts/ (dashboard-pipeline-*.png)."""

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
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from api.catalog.pipelines import PIPELINE_ORDER, step_job_id
from api.v1alpha1 import constants
from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.stages import EXIT_CODE, RUN_DURATION
from tests.omveejobs import OmveeJobs
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster
ARTIFACTS = Path(os.environ.get("OMVEE_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
LIVE = 30_000  # ms a change may take to reach the screen: operator + watch + render
CHAIN = 90_000  # ms for a 3-step chain to run through on the fake pools
STEPS = ["transcription", "scene-generation", "visual-prompts"]
AUDIO = "https://media.example.com/projects/episode-1.mp3"


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
    """The dashboard, signed in and live; the test fails if it reloads or throws."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{api_server.url}/dashboard")
    opened.fill("#token", SERVICE_TOKEN)
    opened.click("#login-form button")
    expect(opened.locator("#connection")).to_have_text("live", timeout=10_000)
    opened.evaluate("window.notReloaded = true")
    yield opened
    assert opened.evaluate("window.notReloaded") is True, "the page reloaded"
    assert errors == [], errors
    context.close()


@pytest.fixture
def ojobs(k8s: client.ApiClient, api_namespace: str) -> OmveeJobs:
    return OmveeJobs(k8s, api_namespace)


@pytest.fixture
def cleanup(http: httpx.Client) -> Iterator[list[str]]:
    """Pipelines to cancel at the end, so their pods free the fake nodes for later tests."""
    ids: list[str] = []
    yield ids
    for pipeline in ids:
        http.post(f"/v1/pipelines/{pipeline}/cancel")


def submit(
    http: httpx.Client, cleanup: list[str], steps: list[str] = STEPS, **body: Any
) -> tuple[str, list[str]]:
    """A pipeline of ``steps`` (3 by default) in a new project: (its id, its step job ids in
    order)."""
    project = str(uuid.uuid4())
    response = http.post(
        f"/v1/projects/{project}/pipelines", json={"audio_url": AUDIO, "steps": steps, **body}
    )
    assert response.status_code == 202, response.text
    pipeline: str = response.json()["id"]
    cleanup.append(pipeline)
    return pipeline, [step_job_id(pipeline, t) for t in steps]


def report_progress(k8s: client.ApiClient, namespace: str, job_id: str, percent: int) -> None:
    """What a job pod's reporter writes (kwok's pods run no container to do it)."""
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object_status(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.PLURAL,
        f"job-{job_id}",
        {"status": {"progress": percent, "progressMessage": f"decoding {percent}%"}},
    )


def box(page: Page, job_id: str) -> Locator:
    return page.locator(f'#pipeline-graph a.step[data-job-id="{job_id}"]')


def open_pipeline(page: Page, pipeline: str) -> None:
    """As a user does: the pipelines list, then the pipeline's row."""
    page.click('nav a[data-view="pipelines-view"]')
    row = page.locator(f'#pipeline-rows tr[data-pipeline-id="{pipeline}"]')
    expect(row).to_be_visible(timeout=LIVE)
    expect(row.locator("td.steps")).to_have_text("3")
    shoot(page, "list")
    row.click()
    expect(page.locator("#pipeline-view")).to_be_visible()
    expect(page.locator("#pipeline-title")).to_have_text(f"Pipeline · {pipeline}", timeout=LIVE)


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-pipeline-{name}.png"
    page.screenshot(path=path, full_page=True, animations="disabled")  # bars at their width


def test_the_graph_shows_steps_waiting_then_succeeding_live_and_links_to_their_jobs(
    page: Page,
    http: httpx.Client,
    k8s: client.ApiClient,
    api_namespace: str,
    ojobs: OmveeJobs,
    cleanup: list[str],
) -> None:
    pipeline, ids = submit(
        http, cleanup, pod_annotations=factories.pod_annotations(run_duration="25s")
    )
    for later in ids[1:]:  # only the first step runs a while; the others are quick
        ojobs.patch_spec(f"job-{later}", {"podAnnotations": {RUN_DURATION: "1s"}})
    open_pipeline(page, pipeline)

    expect(page.locator("#pipeline-graph a.step")).to_have_count(3)
    expect(page.locator("#pipeline-graph .arrow")).to_have_count(2)
    assert [box(page, i).get_attribute("data-step") for i in ids] == STEPS
    for job_id, job_type in zip(ids, STEPS, strict=True):
        expect(box(page, job_id).locator(".step-type")).to_have_text(job_type)
        expect(box(page, job_id)).to_have_attribute("href", f"#/jobs/{job_id}")
    first = box(page, ids[0])
    expect(first.locator(".phase")).to_have_text("Running", timeout=LIVE)
    expect(page.locator("#pipeline-phase")).to_have_text("Running")
    for index in (1, 2):
        step = box(page, ids[index])
        expect(step.locator(".phase")).to_have_text("Pending")
        expect(step.locator(".step-why.waiting")).to_contain_text(
            f"waiting for {STEPS[index - 1]} {ids[index - 1]}", timeout=LIVE
        )
    report_progress(k8s, api_namespace, ids[0], 40)
    expect(first.locator(".bar")).to_have_attribute("data-progress", "40", timeout=LIVE)
    expect(box(page, ids[1]).locator(".step-why")).to_have_text(
        f"waiting for transcription {ids[0]} (Running, 40%)", timeout=LIVE
    )
    expect(page.locator("#pipeline-retry")).to_be_disabled()
    expect(page.locator("#pipeline-cancel")).to_be_enabled()
    shoot(page, "waiting")

    for job_id in ids:  # each in turn, on screen, without a reload
        expect(box(page, job_id).locator(".phase")).to_have_text("Succeeded", timeout=CHAIN)
        expect(box(page, job_id).locator(".bar")).to_have_attribute("data-progress", "100")
    expect(page.locator("#pipeline-phase")).to_have_text("Succeeded", timeout=LIVE)
    expect(page.locator("#pipeline-graph .arrow-ready")).to_have_count(2)
    expect(page.locator("#pipeline-facts")).to_contain_text("3 of 3 succeeded")
    expect(page.locator("#pipeline-cancel")).to_be_disabled()
    expect(page.locator("#pipeline-retry")).to_be_disabled()
    shoot(page, "succeeded")

    box(page, ids[1]).click()
    expect(page.locator("#job-view")).to_be_visible()
    assert page.url.endswith(f"#/jobs/{ids[1]}")
    expect(page.locator("#job-title")).to_have_text(f"scene-generation · {ids[1]}", timeout=LIVE)
    expect(page.locator("#job-phase")).to_have_text("Succeeded")
    back = page.locator("#job-pipeline")
    expect(back).to_have_attribute("href", f"#/pipelines/{pipeline}")
    shoot(page, "job")
    back.click()
    expect(page.locator("#pipeline-view")).to_be_visible()
    expect(box(page, ids[2]).locator(".phase")).to_have_text("Succeeded", timeout=LIVE)


def test_a_failed_step_ends_the_rest_naming_it_and_retry_runs_the_chain_again(
    page: Page, http: httpx.Client, ojobs: OmveeJobs, cleanup: list[str]
) -> None:
    pipeline, ids = submit(
        http, cleanup, retries=0, pod_annotations=factories.pod_annotations(exit_code=1)
    )
    page.evaluate(f"location.hash = '#/pipelines/{pipeline}'")
    expect(page.locator("#pipeline-phase")).to_have_text("Failed", timeout=LIVE)
    for job_id in ids:
        expect(box(page, job_id).locator(".phase")).to_have_text("Failed", timeout=LIVE)
    expect(box(page, ids[0]).locator(".step-why.failed")).not_to_be_empty()
    expect(box(page, ids[1]).locator(".step-why.failed")).to_contain_text(
        f"upstream transcription {ids[0]} failed: "
    )
    expect(box(page, ids[2]).locator(".step-why.failed")).to_contain_text(
        f"upstream scene-generation {ids[1]} failed: "
    )
    expect(page.locator("#pipeline-graph .arrow-broken")).to_have_count(2)
    assert http.get(f"/v1/jobs/{ids[2]}").json()["reason"] == "UpstreamFailed"
    assert ojobs.jobs(f"job-{ids[2]}") == []  # ended without a Job, so without a pod
    expect(page.locator("#pipeline-cancel")).to_be_disabled()
    expect(page.locator("#pipeline-retry")).to_be_enabled()
    shoot(page, "failed")

    for job_id in ids:  # the next run's pods succeed (null removes the key)
        ojobs.patch_spec(f"job-{job_id}", {"podAnnotations": {EXIT_CODE: None}})
    page.click("#pipeline-retry")
    expect(page.locator("#pipeline-error")).to_have_text("")
    for job_id in ids:
        expect(box(page, job_id).locator(".phase")).to_have_text("Succeeded", timeout=CHAIN)
        expect(box(page, job_id).locator(".step-foot")).to_contain_text("run 1")
    expect(page.locator("#pipeline-phase")).to_have_text("Succeeded", timeout=LIVE)


def test_cancel_ends_every_unfinished_step_of_a_five_step_pipeline(
    page: Page, http: httpx.Client, cleanup: list[str]
) -> None:
    slow = factories.pod_annotations(run_duration="1h")
    pipeline, ids = submit(http, cleanup, list(PIPELINE_ORDER), pod_annotations=slow)
    assert len(ids) == 5
    page.evaluate(f"location.hash = '#/pipelines/{pipeline}'")
    expect(box(page, ids[0]).locator(".phase")).to_have_text("Running", timeout=LIVE)
    page.click("#pipeline-cancel")
    expect(page.locator("#pipeline-error")).to_have_text("")
    for job_id in ids:
        expect(box(page, job_id).locator(".phase")).to_have_text("Cancelled", timeout=LIVE)
    expect(page.locator("#pipeline-phase")).to_have_text("Cancelled", timeout=LIVE)
    expect(page.locator("#pipeline-cancel")).to_be_disabled()
    expect(page.locator("#pipeline-retry")).to_be_enabled()
    shoot(page, "cancelled")  # all five boxes in a row
    wait_for(
        lambda: http.get(f"/v1/pipelines/{pipeline}").json()["phase"] == "Cancelled",
        "the pipeline Cancelled",
        30,
    )
