"""The log store's settings: where saved pod logs are kept (the operator writes them, the API and
the CLI read them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from api.envsettings import EnvSettings


class LogStoreSettings(EnvSettings):
    """Where each finished attempt's pod log is saved. ``load()`` raises ``SettingsError``
    naming a bad variable, or saying what the chosen store is missing."""

    kind_setting: Literal["", "off", "directory", "supabase"] = Field(
        "",
        validation_alias="OMVEE_LOGS",
        description=(
            "`directory` (OMVEE_LOGS_DIR), `supabase` (SUPABASE_URL, "
            "SUPABASE_SERVICE_ROLE_KEY, OMVEE_LOGS_BUCKET) or `off`. Unset: supabase when "
            "SUPABASE_URL is set, else off."
        ),
    )
    directory: Path = Field(
        Path("omvee-logs"),
        validation_alias="OMVEE_LOGS_DIR",
        description="The `directory` store's folder (development, tests); default ./omvee-logs.",
    )
    bucket: str = Field(
        "job-logs",
        min_length=1,
        validation_alias="OMVEE_LOGS_BUCKET",
        description="The `supabase` store's Storage bucket.",
    )
    supabase_url: str = Field(
        "",
        validation_alias="SUPABASE_URL",
        description="The Supabase project's URL, e.g. https://<project>.supabase.co.",
    )
    supabase_service_role_key: str = Field(
        "",
        validation_alias="SUPABASE_SERVICE_ROLE_KEY",
        repr=False,
        description="Supabase's service-role key: writes and reads the bucket.",
    )

    @field_validator("kind_setting", mode="before")
    @classmethod
    def _a_store(cls, value: object) -> object:
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in ("", "off", "directory", "supabase"):
            raise ValueError(f"OMVEE_LOGS must be directory, supabase or off, not {value!r}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> LogStoreSettings:
        if self.kind == "supabase" and not (self.supabase_url and self.supabase_service_role_key):
            raise ValueError("OMVEE_LOGS=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
        return self

    @property
    def kind(self) -> Literal["off", "directory", "supabase"]:
        """The store in use: OMVEE_LOGS, or inferred (supabase with SUPABASE_URL, else off)."""
        if self.kind_setting == "directory":
            return "directory"
        if self.kind_setting == "supabase" or (not self.kind_setting and self.supabase_url):
            return "supabase"
        return "off"
