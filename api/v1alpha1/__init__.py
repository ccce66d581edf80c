"""The OmveeJob contract (omvee.io/v1alpha1): types, constants, and the CRD built from them."""

from api.v1alpha1.constants import API_VERSION, GROUP, KIND, PLURAL, VERSION
from api.v1alpha1.types import Condition, JobType, OmveeJobSpec, OmveeJobStatus, Phase

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Condition",
    "JobType",
    "OmveeJobSpec",
    "OmveeJobStatus",
    "Phase",
]
