"""What PostgreSQL cannot store (U+0000) and other control characters are refused where input
enters: every string field of every job type (present and future), pod annotations, the REST
API with a field-level 422 that creates nothing, and the OmveeJob spec."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import pytest
from fastapi.testclient import TestClient
from pydantic import Field, ValidationError

from api.catalog.inputs import INPUT_MODELS, _Input, input_errors
from api.rest.main import create_app
from api.rest.schemas import JobCreate
from api.rest.settings import Settings
from api.rest.store import JobStore
from api.v1alpha1.text import FREE_TEXT, TEXT_PATTERN, refused_characters
from api.v1alpha1.types import JobType, OmveeJobSpec

TOKEN = "service-token-for-unit-tests-0123456789"
JOB_ID = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
VALID = {
    "transcription": {"audioUrl": "https://example.org/a.wav", "language": "en"},
    "scene-generation": {"transcriptJobId": JOB_ID},
    "visual-prompts": {"scenesJobId": JOB_ID, "style": "watercolour"},
    "image-generation": {"promptsJobId": JOB_ID},
    "video-generation": {"imagesJobId": JOB_ID, "audioUrl": "https://example.org/a.wav"},
}


def string_fields() -> list[tuple[JobType, str]]:
    """(job type, camelCase field) for every field of every input model that takes a string."""
    return [
        (job_type, field.alias or name)
        for job_type, model in INPUT_MODELS.items()
        for name, field in model.model_fields.items()
        if "str" in str(field.annotation)
    ]


def test_every_job_type_is_covered() -> None:
    assert {t.value for t in INPUT_MODELS} == set(VALID)
    assert len(string_fields()) >= 7
    for job_type in INPUT_MODELS:
        assert input_errors(job_type, VALID[job_type]) == []


@pytest.mark.parametrize(("job_type", "field"), string_fields())
@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x7f", "\x85"])
def test_every_string_field_refuses_control_characters(
    job_type: JobType, field: str, bad: str
) -> None:
    data = dict(VALID[job_type.value])
    data[field] = (data.get(field) or "https://example.org/x") + bad
    [error] = input_errors(job_type, data)
    assert error.startswith(f"input.{field}: ")


def test_a_url_refuses_u0000_naming_it_and_any_control_character() -> None:
    assert input_errors(JobType.TRANSCRIPTION, {"audioUrl": "https://example.org/a\x00b.wav"}) == [
        "input.audioUrl: must not contain control characters or unpaired surrogates (found U+0000)"
    ]
    for bad in ("\t", "\n", "\r"):
        assert input_errors(JobType.TRANSCRIPTION, {"audioUrl": f"https://example.org/a{bad}b"})


def test_free_text_may_hold_tabs_and_line_breaks_only() -> None:
    visual = JobType.VISUAL_PROMPTS
    assert input_errors(visual, {"scenesJobId": JOB_ID, "style": "soft\tlight,\r\nwarm"}) == []
    [error] = input_errors(visual, {"scenesJobId": JOB_ID, "style": "a\x00b\x1bc"})
    assert error == (
        "input.style: must not contain control characters or unpaired surrogates "
        "(found U+0000, U+001B)"
    )


def test_a_field_added_later_is_covered_at_any_depth() -> None:
    class FutureInput(_Input):
        title: str
        tags: list[str] = Field(default_factory=list)
        speakers: dict[str, str] = Field(default_factory=dict)
        notes: Annotated[str | None, FREE_TEXT] = Field(None)

    assert FutureInput.model_validate({"title": "t", "notes": "line\nbreak"}).notes
    for data, field, where in [
        ({"title": "a\x00"}, "title", ""),
        ({"title": "t", "tags": ["ok", "b\x00"]}, "tags", " in [1]"),
        ({"title": "t", "speakers": {"s1": "x\x00"}}, "speakers", " in ['s1']"),
        ({"title": "t", "speakers": {"s\x00": "x"}}, "speakers", " in the key 's\\x00'"),
        ({"title": "t", "notes": "a\x00"}, "notes", ""),
    ]:
        with pytest.raises(ValidationError) as raised:
            FutureInput.model_validate(data)
        [error] = raised.value.errors()
        assert (error["loc"], error["type"]) == ((field,), "control_character")
        assert error["msg"].endswith(f"(found U+0000{where})")


@pytest.mark.parametrize(
    ("text", "free_text", "found"),
    [
        ("https://example.org/a.wav", False, []),
        ("a\tb\nc\rd", True, []),
        ("a\tb", False, ["U+0009"]),
        ("\x00\x01\x00\x9f", True, ["U+0000", "U+0001", "U+009F"]),
        ("a\ud800b", True, ["U+D800"]),
        ("é ü 日本 \u200b \ufffd", False, []),  # printable non-ASCII is fine
    ],
)
def test_refused_characters(text: str, free_text: bool, found: list[str]) -> None:
    assert refused_characters(text, free_text=free_text) == found


def test_pod_annotations_refuse_control_characters_in_keys_and_values() -> None:
    base = {"type": "transcription", "project_id": JOB_ID, "input": {}}
    ok = {"cluster-autoscaler.kubernetes.io/note": "line\nbreak"}
    assert JobCreate.model_validate(base | {"pod_annotations": ok}).pod_annotations == ok
    for pod_annotations, loc in [
        ({"a": "x\x00"}, ("pod_annotations", "a")),
        ({"a\x00": "x"}, ("pod_annotations", "a\x00", "[key]")),
        # keys strictly: not even a tab or a line break, which values may hold
        ({"a\tb": "x"}, ("pod_annotations", "a\tb", "[key]")),
        ({"a\rb": "x"}, ("pod_annotations", "a\rb", "[key]")),
        ({"a\nb": "x"}, ("pod_annotations", "a\nb", "[key]")),
    ]:
        with pytest.raises(ValidationError) as raised:
            JobCreate.model_validate(base | {"pod_annotations": pod_annotations})
        assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [
            (loc, "control_character")
        ]
    spec = {"type": "transcription", "projectId": JOB_ID, "jobId": JOB_ID}
    with pytest.raises(ValidationError, match=r"podAnnotations\.a"):
        OmveeJobSpec.model_validate(spec | {"podAnnotations": {"a": "x\x00"}})
    schema = OmveeJobSpec.model_json_schema(by_alias=True)["properties"]["podAnnotations"]
    assert schema["additionalProperties"]["pattern"] == TEXT_PATTERN  # the CRD says it too


class MemoryStore(JobStore):
    """Records OmveeJobs created: none must be, for a refused request."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.created.append(body)
        return body, True


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def api(store: MemoryStore) -> TestClient:
    test = TestClient(create_app(Settings(service_tokens=[TOKEN]), store))
    test.headers["Authorization"] = f"Bearer {TOKEN}"
    return test


def post(api: TestClient, path: str, body: str) -> Any:
    """``body`` as raw JSON text, so a JSON ``\\u0000`` escape arrives as the client sent it."""
    return api.post(path, content=body, headers={"Content-Type": "application/json"})


def test_api_answers_a_field_level_422_and_creates_nothing(
    api: TestClient, store: MemoryStore
) -> None:
    project = str(uuid.uuid4())
    typed = post(
        api,
        f"/v1/projects/{project}/transcriptions",
        '{"audio_url": "https://example.org/a\\u0000b.wav"}',
    )
    assert typed.status_code == 422, typed.text
    [error] = typed.json()["detail"]
    assert error["loc"] == ["body", "audio_url"]
    assert error["type"] == "control_character"
    assert "found U+0000" in error["msg"]
    generic = post(
        api,
        "/v1/jobs",
        json.dumps(
            {
                "type": "visual-prompts",
                "project_id": project,
                "input": {"scenes_job_id": JOB_ID, "style": "ink\u0000wash"},
            }
        ),
    )
    assert generic.status_code == 422, generic.text
    assert [e["loc"] for e in generic.json()["detail"]] == [["body", "input", "style"]]
    annotated = post(
        api,
        f"/v1/projects/{project}/transcriptions",
        json.dumps(
            {
                "audio_url": "https://example.org/a.wav",
                "pod_annotations": {"cluster-autoscaler.kubernetes.io/x": "a\u0000"},
            }
        ),
    )
    assert annotated.status_code == 422, annotated.text
    assert annotated.json()["detail"][0]["loc"] == [
        "body",
        "pod_annotations",
        "cluster-autoscaler.kubernetes.io/x",
    ]
    assert store.created == []
