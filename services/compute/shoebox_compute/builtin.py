"""The built-in workers: compute's own media tasks (`media/`), run on the same worker runtime as any
plug-in, in the compute process. Each task function adapts a leased job to a media task: its input read
by ranges through its presigned URL, its outputs PUT to theirs, its progress reported (and a cancel
heard) as the task advances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO

from shoebox_compute.media import tasks
from shoebox_compute.media.outputs import Cancelled as MediaCancelled
from shoebox_compute.media.outputs import MediaError, Output, Progress
from shoebox_compute.media.source import RangeReader
from shoebox_compute.models import TaskType
from shoebox_lib.worker.runtime import Cancelled, JobContext, JobFailed, Worker

MediaTask = Callable[[RangeReader, int, dict[str, Any], "_Sink", Progress], dict[str, Any]]

# CL's tasks by name, and the automatic ones an upload gets.
MEDIA_TASKS: dict[TaskType, MediaTask] = {
    TaskType.MEDIA_THUMBNAIL: tasks.media_thumbnail,
    TaskType.IMAGE_CONVERSION: tasks.image_conversion,
    TaskType.EXIF: tasks.exif,
    TaskType.HASH: tasks.hash_task,
    TaskType.HLS_STREAMING: tasks.hls_streaming,
    TaskType.METADATA: tasks.media_metadata,
    TaskType.VIDEO_PROBE: tasks.video_probe,
}
MAX_VARIANT_SIDE = 4096


class _Sink:
    """A media task's outputs, PUT through the job's presigned URLs."""

    def __init__(self, job: JobContext) -> None:
        self.job = job

    def put(self, path: str, data: bytes, content_type: str) -> Output:
        self.job.put_output(path, data, content_type)
        return Output(path, content_type, len(data))

    def put_file(self, path: str, file: BinaryIO, content_type: str) -> Output:
        return Output(path, content_type, self.job.put_output_file(path, file, content_type).size)


def _progress(job: JobContext) -> Progress:
    def report(percent: int) -> None:
        try:
            job.progress(percent)
        except Cancelled:
            raise MediaCancelled("the broker asked to stop") from None

    return report


def _run(job: JobContext, task: MediaTask) -> dict[str, Any]:
    if not job.inputs:
        raise JobFailed("the job has no input file")
    source = job.inputs[0]
    reader = RangeReader(source.read_range, source.size)
    try:
        return task(reader, source.size, dict(job.params), _Sink(job), _progress(job))
    except MediaCancelled:
        raise Cancelled("cancelled") from None
    except (MediaError, ValueError) as exc:
        raise JobFailed(str(exc)) from exc


def _variant(job: JobContext) -> dict[str, Any]:
    name = str(job.params.get("variant", "thumb"))
    side = job.params.get("max_side", 256)
    if not isinstance(side, int) or not 1 <= side <= MAX_VARIANT_SIDE:
        raise JobFailed(f"max_side must be 1..{MAX_VARIANT_SIDE}")

    def variant(source: RangeReader, size: int, params: dict[str, Any], sink: _Sink, progress: Progress
                ) -> dict[str, Any]:
        return tasks.thumbnail_variant(source, size, params, sink, progress, name=name, max_side=side)

    return _run(job, variant)


def _runner(task: MediaTask) -> Callable[[JobContext], dict[str, Any]]:
    def run(job: JobContext) -> dict[str, Any]:
        return _run(job, task)

    return run


def register(worker: Worker) -> Worker:
    """Every built-in task on one worker."""
    for task_type, media_task in MEDIA_TASKS.items():
        worker.add_task(task_type, _runner(media_task))
    worker.add_task(TaskType.THUMBNAIL, _variant)
    return worker
