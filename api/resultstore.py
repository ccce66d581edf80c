"""The results store's settings as the job pods that write it and the CLI that reads it see them.

The operator decides where job pods store results (``OMVEE_RESULTS_STORE`` and the rest, in
``controller.settings``) and hands each pod these variables; the API reads the same store
with its own settings (``api.rest.settings``, ``OMVEE_API_RESULTS_*`` or these names). The
parts all three share live here: the bucket's default name and the Supabase Storage address
of a stored object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from api.envsettings import EnvSettings

# The Supabase Storage bucket results go to when OMVEE_RESULTS_BUCKET is unset.
DEFAULT_BUCKET = "job-results"
# Where a job run by hand (no results store given) writes its files, relative to its
# working directory.
DEFAULT_DIRECTORY = Path("omvee-results")


def storage_prefix(supabase_url: str, bucket: str) -> str:
    """The address every object of ``bucket`` starts with:
    ``{supabase_url}/storage/v1/object/{bucket}/`` (no doubled slash)."""
    return f"{supabase_url.rstrip('/')}/storage/v1/object/{bucket}/"


class ResultsSettings(EnvSettings):
    """Where a job pod stores its result files (and reads an earlier job's), and where the
    CLI reads the volume's files in cluster mode. Raises ``SettingsError`` from ``load()``
    naming a bad variable; a Supabase store missing its credentials is refused only where it
    is used (``jobimages.runtime.results``)."""

    kind: Literal["directory", "supabase"] = Field(
        "directory",
        validation_alias="OMVEE_RESULTS",
        description=(
            "`supabase`: Supabase Storage (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, "
            "OMVEE_RESULTS_BUCKET); `directory` or unset: the folder OMVEE_RESULTS_DIR. Set "
            "by the operator in every job pod."
        ),
    )
    directory: Path | None = Field(
        None,
        validation_alias="OMVEE_RESULTS_DIR",
        description=(
            "The results folder: in a job pod the results volume's mount "
            "(/var/lib/omvee/results, set by the operator); for the CLI the same volume's "
            "directory on this machine. Unset: ./omvee-results for a job pod; the CLI then "
            "reads results through the API only."
        ),
    )
    bucket: str = Field(
        DEFAULT_BUCKET,
        min_length=1,
        validation_alias="OMVEE_RESULTS_BUCKET",
        description="The Supabase Storage bucket of the `supabase` store.",
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
        description="Supabase's service-role key: writes the bucket, reads its objects.",
    )

    def local_directory(self) -> Path:
        """The results folder of a job pod, absolute: OMVEE_RESULTS_DIR, else
        ./omvee-results."""
        return (self.directory or DEFAULT_DIRECTORY).resolve()

    def object_prefix(self) -> str | None:
        """The address every object of the own bucket starts with, or None unless this is
        the ``supabase`` store with a SUPABASE_URL."""
        if self.kind != "supabase" or not self.supabase_url:
            return None
        return storage_prefix(self.supabase_url, self.bucket)
