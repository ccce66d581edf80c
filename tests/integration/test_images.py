"""The transcription image, built with buildah (or reused from the cache), really transcribes:
run with runc as the pod runs it (uid 10001, read-only root, /tmp a tmpfs, no network, no
capabilities), it turns espeak-ng speech into the right words with the tiny.en model it carries.

Cold (no cache): the Debian base (~50 s) and the image (~90 s, PyPI downloads); cached: ~10 s.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.localcluster.images import ImageBuildError, ensure_images, run_image
from tests.localcluster.images_plan import Bind
from tests.media import SENTENCE, speak, word_error_rate

pytestmark = [pytest.mark.images, pytest.mark.media]

PORT = 8765  # inside the container's own network namespace: nothing else is there
# the container serves the audio to itself on loopback, which only this allowance opens
SERVE_AND_TRANSCRIBE = f"""
python -m http.server {PORT} --bind 127.0.0.1 --directory /input >/dev/null 2>&1 &
python - <<'EOF'
import socket, time
deadline = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", {PORT})).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
EOF
python -m jobimages.transcription --audio-url http://127.0.0.1:{PORT}/speech.wav \\
    --results-dir /tmp/results || exit $?
echo ---transcript---
cat /tmp/results/local/*/run-0/transcript.json
echo
echo ---probes---
touch /app/x 2>/dev/null && echo root-writable || echo root-read-only
id -u
python -c 'import urllib.request; urllib.request.urlopen("https://pypi.org", timeout=3)' \\
    2>/dev/null && echo network || echo no-network
"""


@pytest.fixture(scope="module")
def transcription_archive() -> Path:
    if os.geteuid() != 0 or not shutil.which("buildah") or not shutil.which("runc"):
        pytest.fail("building and running images needs root, buildah and runc: make sysdeps")
    try:
        image = ensure_images(["job-transcription"])["job-transcription"]
    except ImageBuildError as error:
        pytest.fail(str(error))
    assert image.archive.is_file() and image.size_bytes > 100 * 2**20
    assert image.ref.endswith("/job-transcription:0.1.0")
    return image.archive


def test_the_transcription_image_transcribes_offline_as_uid_10001_on_a_read_only_root(
    transcription_archive: Path, tmp_path: Path
) -> None:
    speak(SENTENCE, tmp_path / "speech.wav").chmod(0o644)
    tmp_path.chmod(0o755)  # uid 10001 reads it through the bind mount
    result = run_image(
        transcription_archive,
        ["sh", "-c", SERVE_AND_TRANSCRIBE],
        binds=[Bind(tmp_path, "/input")],
        env={"OMVEE_URL_ALLOWED_NETWORKS": '["127.0.0.1/32"]'},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "loading the model (cpu, int8)" in result.stdout
    transcript_text, probes = result.stdout.split("---transcript---\n", 1)[1].split("---probes---")
    document = json.loads(transcript_text)
    text = " ".join(segment["text"] for segment in document["segments"])
    assert word_error_rate(SENTENCE, text) <= 0.3, text
    assert document["language"] == "en"
    assert probes.split() == ["root-read-only", "10001", "no-network"]


@pytest.mark.parametrize(
    ("image", "module", "flag"),
    [
        ("job-transcription", "transcription", "--audio-url"),
        ("job-scene-generation", "scene_generation", "--transcript"),
        ("job-visual-prompts", "visual_prompts", "--scenes"),
        ("job-image-generation", "image_generation", "--prompts"),
        ("job-video-generation", "video_generation", "--durations"),
    ],
)
def test_the_catalogs_command_runs_in_each_job_image(image: str, module: str, flag: str) -> None:
    """The catalog's command is ``python -m jobimages.<type>``: ``python`` exists in every job
    image `make images` builds, and the runtime imports as uid 10001 with HOME on the tmpfs
    (nothing written to the read-only root)."""
    try:
        built = ensure_images([image])[image]
    except ImageBuildError as error:
        pytest.fail(str(error))
    result = run_image(
        built.archive, ["python", "-m", f"jobimages.{module}", "--help"], timeout=180
    )
    assert result.returncode == 0, result.stdout
    assert flag in result.stdout
