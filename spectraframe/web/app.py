"""The page of `spectraframe serve`, laid out with Gradio. The work is `spectraframe.web.jobs` (the CLI's
`Upscaler` underneath); this module only turns page fields into its arguments and its results into the page.

Import only after `GRADIO_TEMP_DIR` points into the working folder (`spectraframe.commands.serve` does).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gradio as gr

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import IMAGE_SUFFIXES
from spectraframe.io.video import VIDEO_SUFFIXES
from spectraframe.web.access import COOKIE
from spectraframe.web.jobs import NETWORK_SIZE, JobRunner, JobSettings, comparison, parse_size
from spectraframe.zoo import blendable_models, installed, load_zoo, model_weights_path

CUSTOM = "custom"
SIZE_CHOICES = [NETWORK_SIZE, "x3", "x2", "2160p", "1440p", "1080p", "720p", "480p"]
PRECISIONS = ["auto", "fp32", "bf16", "fp16", "int8"]
# System fonts: the default theme would fetch fonts from the internet, and this page is meant to work offline.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


# Gradio sends a slider's typed number on blur (Tab) only: Enter in the box does the same here (the frame to compare).
PAGE_HEAD = """<script>
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches("input[type=number]")) event.target.blur();
}, true);
</script>"""


def model_choices(custom_weights: Path | None) -> list[str]:
    """The `--model` names whose weights are installed (as `spectraframe models` lists them), `custom` first when
    the server was started with --weights."""
    choices = [name for name in load_zoo().names() if installed(name)]
    return [CUSTOM, *choices] if custom_weights is not None else choices


def model_help(name: str, custom_weights: Path | None) -> str:
    """When to use the model `name`: the line `spectraframe models` prints."""
    if name == CUSTOM:
        where = custom_weights.name if custom_weights is not None else "none"
        return f"**custom**: the weights given when the server started ({where})"
    return f"**{name}**: {load_zoo().get(name).use_for}"


def blend_of(model: str, strength: float | None) -> tuple[str, float] | None:
    """The blend `--model MODEL --strength S` of the page's fields; None runs the model's own weights."""
    if model not in blendable_models() or strength is None or float(strength) >= 1.0:
        return None
    return model, float(strength)


def client_of(request: gr.Request) -> str:
    """Who is asking: the login when the server has logins, else the browser (the cookie of `ClientFiles`)."""
    cookies = getattr(request, "cookies", None) or {}
    return request.username or cookies.get(COOKIE) or request.session_hash


class Handlers:
    """What the page's buttons and fields call. `custom_weights` come from the command line only: the browser
    chooses among names."""

    def __init__(self, runner: JobRunner, custom_weights: Path | None, sample_clip: Path | None, device: str,
                 on_leave: Callable[[str], None] | None = None):
        self.runner, self.custom_weights, self.sample_clip, self.device = runner, custom_weights, sample_clip, device
        self.on_leave = on_leave

    def weights_for(self, name: str) -> Path:
        if name == CUSTOM and self.custom_weights is not None:
            return self.custom_weights
        return model_weights_path(name)  # a model not installed says so in one sentence

    def start(self, upload, use_sample, model, strength, size, precision, crf, request: gr.Request,
              progress=gr.Progress()):  # noqa: B008 (how Gradio hands a progress bar to a function)
        try:
            if not self.runner.admitted(request.session_hash):  # a script calling this step alone skips the limit
                raise SpectraFrameError("start a job with the Upscale button (its first step takes it into the line)")
            path = self.sample_clip if use_sample and self.sample_clip is not None else upload
            if path is None:
                raise SpectraFrameError("choose a video or a .zip of frames to upscale (or tick the sample clip)")
            height, outscale = parse_size(size)
            blend = blend_of(model, strength)
            settings = JobSettings(weights=self.weights_for(model), blend=blend, height=height, outscale=outscale,
                                   precision=precision, crf=float(crf), device=self.device)
            progress(0, desc="loading the model")

            def show(meter):
                if meter.due():
                    progress((meter.done, meter.total), desc=meter.describe())

            result, source = self.runner.run(Path(path), settings, request.session_hash, show)
            middle = result.frames // 2
            bicubic, upscaled, detail = comparison(source, result.output, middle)
        except SpectraFrameError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        finally:
            self.runner.release(request.session_hash)
        rate = result.frames / result.seconds if result.seconds > 0 else 0.0
        ran = f"{model} at strength {blend[1]:g}" if blend is not None else model
        status = (f"Done: {result.frames} frames, {result.width}x{result.height}, in {result.seconds:.1f} s "
                  f"({rate:.2f} frames/s), model {ran}.")
        job = {"source": str(source), "output": str(result.output)}
        return (status, str(result.output), gr.update(value=str(result.output), visible=True),
                gr.update(minimum=0, maximum=max(1, result.frames - 1), value=middle, interactive=True),
                (bicubic, upscaled), detail, job)

    def admit(self, request: gr.Request):
        try:
            self.runner.admit(request.session_hash, client_of(request))
        except SpectraFrameError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        return "Waiting for a turn..."

    def leave(self, request: gr.Request):
        """The page closed: its job stops, its results go (the job folders, and Gradio's copies via `on_leave`)."""
        self.runner.leave(request.session_hash)
        if self.on_leave is not None:
            self.on_leave(request.session_hash)

    def choose_model(self, name):
        return model_help(name, self.custom_weights), gr.update(visible=name in blendable_models())

    def cancel(self, request: gr.Request):
        running = self.runner.cancel(request.session_hash)
        return "Cancelled: nothing was kept." if running else "Nothing of yours is running."

    def show_frame(self, index, job):
        if not job:
            return gr.update(), gr.update()
        try:
            bicubic, upscaled, detail = comparison(Path(job["source"]), Path(job["output"]), int(index))
        except SpectraFrameError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        return (bicubic, upscaled), detail


def _settings_column(handlers: Handlers) -> dict:
    """The left column: what to upscale and how, the limits, the buttons and the status line."""
    limits, runner, custom_weights = handlers.runner.limits, handlers.runner, handlers.custom_weights
    c = {}
    c["upload"] = gr.File(label=f"Video, or a .zip of frames ({', '.join(IMAGE_SUFFIXES)})",
                          file_types=[*VIDEO_SUFFIXES, ".zip"], elem_id="upload")
    c["use_sample"] = gr.Checkbox(label="Upscale the sample clip instead (carphone, 176x144)", value=False,
                                  visible=handlers.sample_clip is not None, elem_id="use-sample")
    first_model = CUSTOM if custom_weights is not None else load_zoo().default_model
    c["model"] = gr.Dropdown(model_choices(custom_weights), label="Model", value=first_model, elem_id="model")
    c["model_info"] = gr.Markdown(model_help(first_model, custom_weights), elem_id="model-help")
    c["strength"] = gr.Slider(0, 1, value=1, step=0.05, label="Strength",
                              info="1: the chosen model; 0: the default; in between, a blend of the two "
                                   "(less of its texture or clean-up, less flicker)",
                              visible=first_model in blendable_models(), elem_id="strength")
    c["size"] = gr.Dropdown(SIZE_CHOICES, value=NETWORK_SIZE, allow_custom_value=True, label="Output size",
                            info="the network's scale, a smaller one (x2) or a height (1080p): from the "
                                 "clip's own size (x1) to the network's", elem_id="size")
    with gr.Row():
        c["precision"] = gr.Dropdown(PRECISIONS, value="auto", label="Precision",
                                     info="auto: int8 or bf16 on CPUs that have them, fp16 on GPUs",
                                     elem_id="precision")
        c["crf"] = gr.Slider(0, 51, value=18, step=1, label="Encoder quality (CRF, lower is better)", elem_id="crf")
    gr.Markdown(f"Limits: {limits.max_upload_bytes / 1024**2:.0f} MB per upload, {limits.max_frames} "
                f"frames, {limits.max_input_pixels:,} pixels a frame. One clip is upscaled at a time; "
                f"others wait in line, at most {runner.max_jobs_per_client} from each person.")
    with gr.Row():
        c["run"] = gr.Button("Upscale", variant="primary", elem_id="run")
        c["cancel"] = gr.Button("Cancel", variant="stop", elem_id="cancel")
    c["status"] = gr.Markdown(elem_id="status")
    return c


def _results_column() -> dict:
    """The right column: the player, the download, and the before/after comparison of a chosen frame."""
    return {
        "video": gr.Video(label="Result", interactive=False, elem_id="result-video"),
        "download": gr.DownloadButton("Download the video", visible=False, elem_id="download"),
        "frame": gr.Slider(0, 1, value=0, step=1, label="Frame to compare", interactive=False, elem_id="frame"),
        "before_after": gr.ImageSlider(label="bicubic | SpectraFrame (drag the line)", type="numpy",
                                       interactive=False, elem_id="compare"),
        "detail": gr.Image(label="Side by side, most detailed region zoomed below", interactive=False,
                           elem_id="detail"),
    }


def build_app(runner: JobRunner, *, custom_weights: Path | None = None, sample_clip: Path | None = None,
              device: str = "auto", on_leave: Callable[[str], None] | None = None) -> gr.Blocks:
    """The page: the two columns, and the events that join them to `Handlers` (`on_leave(session)` runs when a
    page closes)."""
    handlers = Handlers(runner, custom_weights, sample_clip, device, on_leave)
    with gr.Blocks(title="SpectraFrame", analytics_enabled=False, delete_cache=(600, 3600)) as page:
        gr.Markdown("# SpectraFrame\nVideo super-resolution on this computer: upload a clip, choose the model "
                    "and the size, and compare the result with plain bicubic enlargement.")
        with gr.Row():
            with gr.Column():
                s = _settings_column(handlers)
            with gr.Column():
                r = _results_column()
        job = gr.State({})
        run_event = s["run"].click(handlers.admit, None, s["status"], concurrency_limit=None,
                                   show_progress="hidden").success(
            handlers.start, [s[k] for k in ("upload", "use_sample", "model", "strength", "size", "precision", "crf")],
            [s["status"], *(r[k] for k in ("video", "download", "frame", "before_after", "detail")), job],
            concurrency_limit=1, concurrency_id="upscale",
            # One progress bar, on the player: a busy overlay on each of the seven outputs is repainted by the
            # browser all through the run, on the cores the network needs.
            show_progress_on=[r["video"]],
        )
        s["model"].change(handlers.choose_model, s["model"], [s["model_info"], s["strength"]],
                          concurrency_limit=None, show_progress="hidden")
        s["cancel"].click(handlers.cancel, None, s["status"], cancels=[run_event], concurrency_limit=None)
        r["frame"].release(handlers.show_frame, [r["frame"], job], [r["before_after"], r["detail"]],
                           concurrency_limit=None)
        page.unload(handlers.leave)
    return page
