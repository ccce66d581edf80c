"""The command-line tools' settings: the defaults of `omvee`'s options and of the stuck-rows
command, from the environment. A command-line option always wins over its variable."""

from __future__ import annotations

from pydantic import Field

from api.envsettings import EnvSettings


class CliSettings(EnvSettings):
    """`omvee` and `python -m controller.mirror.stuck_rows`; ``load()`` raises
    ``SettingsError`` naming a bad variable."""

    namespace: str | None = Field(
        None,
        validation_alias="OMVEE_NAMESPACE",
        description="Cluster mode: the one namespace looked at (-n); unset: all namespaces.",
    )
    api_url: str | None = Field(
        None,
        validation_alias="OMVEE_API_URL",
        description="Use the REST API at this URL (--api) instead of the cluster.",
    )
    api_token: str | None = Field(
        None,
        validation_alias="OMVEE_API_TOKEN",
        repr=False,
        description="The API's bearer token (--token).",
    )
    debug: bool = Field(
        False,
        validation_alias="OMVEE_DEBUG",
        description=(
            "1/true/yes/on: an unexpected error shows its traceback rather than one line."
        ),
    )
    mirror_dsn: str | None = Field(
        None,
        validation_alias="OMVEE_MIRROR_DSN",
        repr=False,
        description=(
            "stuck-rows: the `jobs` table's database (--dsn), "
            "postgresql://user:password@host:port/db."
        ),
    )
