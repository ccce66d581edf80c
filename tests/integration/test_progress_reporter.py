"""A job pod's progress reporter against a real API server: reports apply only on the pod's run;
before the run is recorded they are skipped (the result waits for it); once a later run is
recorded the pod stops reporting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.config import kube_config

from api.v1alpha1 import constants
from jobimages.runtime.progress import KubeReporter
from tests.omveejobs import OmveeJobs, manifest
from tests.operator_process import OperatorProcess

pytestmark = pytest.mark.cluster


def set_run(ojobs: OmveeJobs, name: str, run: int) -> None:
    ojobs.custom.patch_namespaced_custom_object_status(
        constants.GROUP,
        constants.VERSION,
        ojobs.namespace,
        constants.PLURAL,
        name,
        {"status": {"run": run}},
    )


def test_reports_follow_the_recorded_run(
    k8s: client.ApiClient,
    kubeconfig: Path,
    namespace: str,
    crd: dict[str, object],
    operator: OperatorProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # read at import from $KUBECONFIG, which the pod's reporter uses out of a cluster
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    ojobs = OmveeJobs(k8s, namespace)
    operator.stop()  # here only the test records runs
    try:
        check_reports(ojobs, namespace)
    finally:
        operator.start()


def check_reports(ojobs: OmveeJobs, namespace: str) -> None:
    ojobs.create(manifest("reported"))
    reporter = KubeReporter("reported", namespace, run=1, min_interval=0)

    reporter.progress(10, "downloading")  # run not recorded yet: skipped, not fatal
    assert "progress" not in ojobs.status("reported")
    assert not reporter.superseded

    set_run(ojobs, "reported", 1)
    reporter.progress(20, "transcribing")
    assert ojobs.status("reported")["progress"] == 20

    set_run(ojobs, "reported", 0)  # the run before: run 1 not recorded yet, then recorded late
    later = threading.Timer(1.5, set_run, (ojobs, "reported", 1))
    later.start()
    started = time.monotonic()
    reporter.result({"text": "hello"})  # waits for its run rather than losing the result
    later.join()
    assert ojobs.status("reported")["result"] == {"text": "hello"}
    assert time.monotonic() - started >= 1.0

    set_run(ojobs, "reported", 2)  # a later run: this pod's reports stop for good
    reporter.progress(90, "transcribing")
    assert reporter.superseded
    set_run(ojobs, "reported", 1)
    reporter.progress(95, "transcribing")
    assert ojobs.status("reported")["progress"] == 20
