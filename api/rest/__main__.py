"""Serve the API: ``python -m api.rest`` (OMVEE_API_HOST, OMVEE_API_PORT; default :8000)."""

from __future__ import annotations

import os

import uvicorn

from api.rest.main import create_app


def main() -> None:
    uvicorn.run(
        create_app(),
        host=os.environ.get("OMVEE_API_HOST", "0.0.0.0"),
        port=int(os.environ.get("OMVEE_API_PORT", "8000")),
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
