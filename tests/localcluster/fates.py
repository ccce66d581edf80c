"""Decide which attempts of a job fail, for pods annotated ``kwok.omvee.io/fail-attempts: N``.

kwok sees one pod at a time and cannot count a Job's attempts, so this small process, started by
the launcher beside kwok, watches pods, numbers each owner's attempts in creation order and labels
every annotated pod ``kwok.omvee.io/fate=fail`` (the first N) or ``succeed`` (the rest). kwok's
``pod-fate-*`` stages then finish the pod accordingly; until it is labelled, such a pod stays
Running.

Run: ``python -m tests.localcluster.fates --kubeconfig PATH``.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

from kubernetes import client, config, watch

from tests.localcluster.stages import EXIT_CODE, FAIL_ATTEMPTS, FATE


def fate_for(attempt: int, fail_attempts: int) -> str:
    """Attempt numbers start at 0; the first ``fail_attempts`` of them fail."""
    return "fail" if attempt < fail_attempts else "succeed"


def owner_uid(pod: Any) -> str:
    """The attempts of one Job share its uid; a bare pod is its own single attempt."""
    for ref in pod.metadata.owner_references or []:
        if ref.controller:
            return str(ref.uid)
    return str(pod.metadata.uid)


class Fates:
    def __init__(self, api: client.CoreV1Api) -> None:
        self.api = api
        self.decided: dict[str, set[str]] = defaultdict(set)

    def observe(self, pod: Any) -> None:
        annotations = pod.metadata.annotations or {}
        labels = pod.metadata.labels or {}
        if FAIL_ATTEMPTS not in annotations:
            return
        attempts = self.decided[owner_uid(pod)]
        if FATE in labels:
            attempts.add(pod.metadata.uid)
            return
        if pod.metadata.deletion_timestamp or pod.metadata.uid in attempts:
            return
        try:
            fail_attempts = int(annotations[FAIL_ATTEMPTS])
        except ValueError:
            print(
                f"pod {pod.metadata.namespace}/{pod.metadata.name}: {FAIL_ATTEMPTS} must be "
                f"an integer, got {annotations[FAIL_ATTEMPTS]!r}; letting it succeed",
                flush=True,
            )
            fail_attempts = 0
        fate = fate_for(len(attempts), fail_attempts)
        self.api.patch_namespaced_pod(
            pod.metadata.name, pod.metadata.namespace, {"metadata": {"labels": {FATE: fate}}}
        )
        attempts.add(pod.metadata.uid)
        code = annotations.get(EXIT_CODE, "1") if fate == "fail" else "0"
        print(
            f"pod {pod.metadata.namespace}/{pod.metadata.name}: attempt {len(attempts)} "
            f"will {fate} (exit code {code})",
            flush=True,
        )

    def run(self) -> None:
        backoff = 1.0
        while True:
            try:
                listed = self.api.list_pod_for_all_namespaces()
                pods = sorted(
                    listed.items, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name)
                )
                for pod in pods:  # labelled pods first, so numbering resumes after a restart
                    if FATE in (pod.metadata.labels or {}):
                        self.observe(pod)
                for pod in pods:
                    self.observe(pod)
                stream = watch.Watch().stream(
                    self.api.list_pod_for_all_namespaces,
                    resource_version=listed.metadata.resource_version,
                    timeout_seconds=300,
                )
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.observe(event["object"])
                backoff = 1.0
            except Exception as error:  # the API server restarts; keep going
                print(f"watch failed, relisting in {backoff:.0f}s: {error}", flush=True)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()
    config.load_kube_config(args.kubeconfig)
    print("fates: watching pods annotated " + FAIL_ATTEMPTS, flush=True)
    Fates(client.CoreV1Api()).run()


if __name__ == "__main__":
    main()
