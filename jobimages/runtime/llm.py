"""An OpenAI-compatible chat endpoint, used only when configured ($OMVEE_LLM_URL, optional
$OMVEE_LLM_API_KEY and $OMVEE_LLM_MODEL) to refine what the deterministic algorithms produce."""

from __future__ import annotations

import httpx

from jobimages.runtime.exitcodes import RetryableError
from jobimages.runtime.settings import runtime_settings


class ChatModel:
    """An OpenAI-compatible chat endpoint at ``url`` (``timeout`` in seconds per request); a failed
    request raises ``RetryableError``."""

    def __init__(self, url: str, api_key: str, model: str, timeout: float = 60.0) -> None:
        self.url, self.api_key, self.model, self.timeout = url.rstrip("/"), api_key, model, timeout

    def complete(self, system: str, user: str) -> str:
        """``POST {url}/v1/chat/completions``; deterministic (temperature 0)."""
        try:
            response = httpx.post(
                f"{self.url}/v1/chat/completions",
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
                json={
                    "model": self.model,
                    "temperature": 0,
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                },
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise RetryableError(f"the language model endpoint failed: {error}") from None
        return str(response.json()["choices"][0]["message"]["content"]).strip()


def chat_from_env() -> ChatModel | None:
    """The endpoint the runtime settings name (OMVEE_LLM_URL, OMVEE_LLM_API_KEY,
    OMVEE_LLM_MODEL), or None when none is configured."""
    settings = runtime_settings()
    if not settings.llm_url:
        return None
    return ChatModel(settings.llm_url, settings.llm_api_key, settings.llm_model)
