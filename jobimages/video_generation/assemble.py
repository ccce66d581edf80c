"""Assemble scene images and the audio into an MP4 with ffmpeg (the binary the PyPI package
imageio-ffmpeg ships): each image shows for its scene's span."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from jobimages.runtime.exitcodes import PermanentError


def ffmpeg() -> str:
    """The path of the ffmpeg binary imageio-ffmpeg ships; ``RuntimeError`` when there is none."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def timeline(spans: list[tuple[float, float]], audio_seconds: float | None = None) -> list[float]:
    """Pure: how long each image shows (seconds), from its scene's (start, end) in the audio,
    so that each appears when its scene starts: the first from 0, each until the next scene's
    start (a gap between scenes shows the earlier one), the last until its end or, when the
    audio lasts longer, the audio's end; the video then lasts as long as the audio. A scene
    followed by one that starts before it (out of order) shows for its own length.
    ``PermanentError`` for no scene."""
    if not spans:
        raise PermanentError("need one image per scene")
    durations = []
    for index, (start, end) in enumerate(spans):
        begins = 0.0 if index == 0 else start
        if index + 1 < len(spans):
            following = spans[index + 1][0]
            ends = following if following >= start else end
        else:
            ends = max(end, audio_seconds or 0.0)
        durations.append(max(ends - begins, 0.0))
    return durations


def concat_list(images: list[Path], durations: list[float]) -> str:
    """Pure: ffmpeg's concat-demuxer script (the last image is listed twice, as it requires)."""
    if not images or len(images) != len(durations):
        raise PermanentError("need one image per scene")
    lines = []
    for image, seconds in zip(images, durations, strict=True):
        lines += [f"file '{image.as_posix()}'", f"duration {max(seconds, 0.04):.3f}"]
    lines.append(f"file '{images[-1].as_posix()}'")
    return "\n".join(lines) + "\n"


def assemble(
    images: list[Path], durations: list[float], audio: Path | None, output: Path, fps: int
) -> Path:
    """``output``: an H.264 MP4 at ``fps`` frames per second showing each image for its
    ``durations`` entry (seconds, at least 0.04), with ``audio`` as AAC (cut to the shorter) when
    given; the concat script is written beside it. ``PermanentError`` when the counts differ or
    ffmpeg fails."""
    script = output.with_suffix(".txt")
    script.write_text(concat_list(images, durations))
    command = [
        ffmpeg(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(script),
    ]
    if audio:
        command += ["-i", str(audio)]
    command += [
        "-r",
        str(fps),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-vf",
        "scale=trunc(iw/2)*2:trunc(ih/2)*2",
    ]
    if audio:
        command += ["-c:a", "aac", "-shortest"]
    command.append(str(output))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise PermanentError(f"ffmpeg could not assemble the video: {result.stderr.strip()[-300:]}")
    return output


def probe_seconds(path: Path) -> float:
    """The media's duration, as ffmpeg reads it."""
    result = subprocess.run([ffmpeg(), "-i", str(path)], capture_output=True, text=True)
    match = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", result.stderr)
    if not match:
        raise PermanentError(f"{path.name} is not a readable media file")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
