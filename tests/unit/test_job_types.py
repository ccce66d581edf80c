"""Job types are declared once (api.catalog.jobtypes); everything else follows from them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from api.catalog import chart
from api.catalog.definition import (
    DefinitionError,
    JobInput,
    JobTypeDefinition,
    check_unique,
    discover,
)
from api.catalog.registry import DEFINITIONS, TYPE_NAMES
from api.rest.routes.projects import router
from api.v1alpha1.types import JobType
from controller.mirror.migrate import accepted_types, type_check_sql
from tests.localcluster.images_plan import IMAGE_NAMES

BUILT_IN = (
    "transcription",
    "scene-generation",
    "visual-prompts",
    "image-generation",
    "video-generation",
)


class _Input(JobInput):
    text: str


def definition(
    name: str, route: str | None = None, operation: str | None = None
) -> JobTypeDefinition:
    return JobTypeDefinition(
        name=name,
        input_model=_Input,
        route=route or name,
        operation_id=operation or name.replace("-", "_"),
        summary="s",
        title="t",
    )


def test_the_built_in_types_in_pipeline_order() -> None:
    assert TYPE_NAMES == BUILT_IN
    assert [t.value for t in JobType] == list(BUILT_IN)
    assert JobType.SCENE_GENERATION == "scene-generation"
    assert [d.package for d in DEFINITIONS][:2] == [
        "jobimages.transcription",
        "jobimages.scene_generation",
    ]


def test_every_declared_type_has_its_route_image_and_image_folder() -> None:
    routes = {route.path: route for route in router.routes}  # type: ignore[attr-defined]
    for d in DEFINITIONS:
        assert f"/v1/projects/{{project_id}}/{d.route}" in routes
        assert d.image_name in IMAGE_NAMES
        assert (Path(__file__).parents[2] / d.dockerfile).is_file()
    assert len(router.routes) == len(DEFINITIONS)


def test_clashing_declarations_are_refused() -> None:
    with pytest.raises(DefinitionError, match="share the name 'a'"):
        check_unique([definition("a"), definition("a", route="other", operation="o")])
    with pytest.raises(DefinitionError, match="share the route 'r'"):
        check_unique([definition("a", route="r"), definition("b", route="r")])


def test_a_module_without_a_valid_definition_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "no_definition.py").write_text("X = 1\n")
    (tmp_path / "bad_name.py").write_text(
        "from api.catalog.definition import JobInput, JobTypeDefinition\n"
        "class I(JobInput):\n    a: str\n"
        "DEFINITION = JobTypeDefinition(name='Bad_Name', input_model=I, route='b', "
        "operation_id='b', summary='s', title='t')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DefinitionError, match="no_definition: a job type module needs"):
        discover("no_definition")
    with pytest.raises(DefinitionError, match="'Bad_Name' must be lower-case words"):
        discover("bad_name")
    with pytest.raises(ModuleNotFoundError):
        discover("not_a_module_anywhere")
    for name in ("no_definition", "bad_name"):
        sys.modules.pop(name, None)


def test_the_charts_generated_parts_are_up_to_date() -> None:
    """values.schema.json's jobs.defaults/types and values.yaml's jobs.types block are what
    `python -m api.catalog.chart --write` makes of the declarations and profiles.yaml."""
    assert chart.main([]) == 0, "run: python -m api.catalog.chart --write"
    schema = chart.types_schema()
    assert list(schema["properties"]) == list(BUILT_IN)
    assert schema["additionalProperties"] is False
    entry = schema["properties"]["transcription"]
    assert entry["required"] == ["image", "command"]
    assert entry["properties"]["retries"] == {"type": "integer", "minimum": 0, "maximum": 10}
    assert entry["properties"]["resources"]["properties"]["limits"]["additionalProperties"] == {
        "type": ["string", "integer", "number"]
    }


def test_the_type_check_only_widens() -> None:
    current = "CHECK ((type = ANY (ARRAY['transcription'::text, 'scene-generation'::text])))"
    assert accepted_types(current) == ["transcription", "scene-generation"]
    assert accepted_types(None) == []
    assert type_check_sql(current, ["scene-generation", "transcription"]) is None
    widened = type_check_sql(current, ["transcription", "dubbing"])
    assert widened == (
        "alter table public.jobs drop constraint if exists jobs_type_check, add constraint "
        "jobs_type_check check (type in ('transcription', 'scene-generation', 'dubbing')) "
        "not valid"
    )
    created = type_check_sql(None, ["transcription"])
    assert created is not None and "('transcription')" in created
