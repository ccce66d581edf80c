"""``python -m jobimages.video_generation``: the images of an image-generation job, each for its
scene's span, with the audio, as an MP4. By hand: ``--image A.png --image B.png --durations
2.5,3 [--audio a.wav] [--fps 24] [--output out.mp4]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.catalog.inputs import VideoGenerationInput
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.fetch import download
from jobimages.runtime.job import job_given
from jobimages.runtime.previous import previous_json, read_location
from jobimages.runtime.run import Context, main
from jobimages.video_generation.assemble import assemble, probe_seconds, timeline


def generate(context: Context) -> dict[str, Any]:
    """The job's work: the image-generation job's images, each shown from its scene's start
    (``timeline``), with the audio when given (at most 500 MiB; the last image then lasts
    until the audio ends), as video.mp4; returns
    {"duration": seconds, "files": {"mp4": location}}. ``PermanentError`` for invalid input or
    when ffmpeg fails; ``RetryableError`` when a download fails."""
    try:
        options = VideoGenerationInput.model_validate(context.job.input)
    except ValidationError as error:
        raise PermanentError(f"invalid input: {error.errors()[0]['msg']}") from None
    images = previous_json(context.job, options.images_job_id, "json")["images"]
    paths, spans = [], []
    for number, item in enumerate(images):
        path = context.workdir / f"scene-{number:03d}.png"
        path.write_bytes(read_location(item["image"]))
        paths.append(path)
        spans.append((float(item["start"]), float(item["end"])))
    audio, audio_seconds = None, None
    if options.audio_url:
        audio = download(options.audio_url, context.workdir / "audio", max_bytes=500 << 20)
        audio_seconds = probe_seconds(audio)
    durations = timeline(spans, audio_seconds)
    context.reporter.progress(50, "assembling the video")
    video = assemble(paths, durations, audio, context.workdir / "video.mp4", options.fps)
    seconds = probe_seconds(video)
    location = context.results.put(context.key("video.mp4"), video.read_bytes(), "video/mp4")
    return {"duration": round(seconds, 3), "files": {"mp4": location}}


def by_hand(argv: list[str]) -> int:
    """Assemble the ``--image`` files, shown for ``--durations`` seconds each, into ``--output``;
    returns 0, or 65 when ffmpeg fails. ``SystemExit`` for bad arguments, ``ValueError`` for a
    duration that is not a number."""
    parser = argparse.ArgumentParser(prog="python -m jobimages.video_generation")
    parser.add_argument("--image", action="append", type=Path, required=True)
    parser.add_argument("--durations", required=True)
    parser.add_argument("--audio", type=Path)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--output", type=Path, default=Path("video.mp4"))
    args = parser.parse_args(argv)
    durations = [float(d) for d in args.durations.split(",")]
    try:
        video = assemble(args.image, durations, args.audio, args.output, args.fps)
    except PermanentError as error:
        sys.stderr.write(f"permanent failure: {error}\n")
        return 65
    sys.stderr.write(f"[done] {video} ({probe_seconds(video):.2f}s)\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 or not job_given():
        raise SystemExit(by_hand(sys.argv[1:]))
    main(generate)
