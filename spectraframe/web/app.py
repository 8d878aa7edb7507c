"""The page of `spectraframe serve`, laid out with Gradio. The work is `spectraframe.web.jobs` (the CLI's
`Upscaler` underneath); this module only turns page fields into its arguments and its results into the page.

Import only after `GRADIO_TEMP_DIR` points into the working folder (`spectraframe.commands.serve` does).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import IMAGE_SUFFIXES
from spectraframe.io.video import VIDEO_SUFFIXES
from spectraframe.upscale.weights import BLENDABLE_MODELS, MODELS, installed, model_weights_path
from spectraframe.web.jobs import NETWORK_SIZE, JobRunner, JobSettings, comparison, parse_size

CUSTOM = "custom"
SIZE_CHOICES = [NETWORK_SIZE, "x3", "x2", "2160p", "1440p", "1080p", "720p", "480p"]
PRECISIONS = ["auto", "fp32", "bf16", "fp16", "int8"]
# System fonts: the default theme would fetch fonts from the internet, and this page is meant to work offline.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


DEFAULT_MODEL = "default"


def model_choices(custom_weights: Path | None) -> list[str]:
    """The `--model` names whose weights are installed (as `spectraframe models` lists them), `custom` first when
    the server was started with --weights."""
    choices = [name for name, (weights_name, _) in MODELS.items() if installed(weights_name)]
    return [CUSTOM, *choices] if custom_weights is not None else choices


def model_help(name: str, custom_weights: Path | None) -> str:
    """When to use the model `name`: the line `spectraframe models` prints."""
    if name == CUSTOM:
        where = custom_weights.name if custom_weights is not None else "none"
        return f"**custom**: the weights given when the server started ({where})"
    return f"**{name}**: {MODELS[name][1]}"


def blend_of(model: str, strength: float | None) -> tuple[str, float] | None:
    """The blend `--model MODEL --strength S` of the page's fields; None runs the model's own weights."""
    if model not in BLENDABLE_MODELS or strength is None or float(strength) >= 1.0:
        return None
    return model, float(strength)


def build_app(runner: JobRunner, *, custom_weights: Path | None = None, sample_clip: Path | None = None,
              device: str = "auto") -> gr.Blocks:
    """The page. `custom_weights` come from the command line only: the browser chooses among names."""

    def weights_for(name: str) -> Path:
        if name == CUSTOM and custom_weights is not None:
            return custom_weights
        return model_weights_path(name)  # a model not installed says so in one sentence

    def start(upload, use_sample, model, strength, size, precision, crf, request: gr.Request,
              progress=gr.Progress()):  # noqa: B008 (how Gradio hands a progress bar to a function)
        try:
            path = sample_clip if use_sample and sample_clip is not None else upload
            if path is None:
                raise SpectraFrameError("choose a video or a .zip of frames to upscale (or tick the sample clip)")
            height, outscale = parse_size(size)
            blend = blend_of(model, strength)
            settings = JobSettings(weights=weights_for(model), blend=blend, height=height, outscale=outscale,
                                   precision=precision, crf=float(crf), device=device)
            progress(0, desc="loading the model")

            def show(meter):
                if meter.due():
                    progress((meter.done, meter.total), desc=meter.describe())

            result, source = runner.run(Path(path), settings, request.session_hash, show)
            middle = result.frames // 2
            bicubic, upscaled, detail = comparison(source, result.output, middle)
        except SpectraFrameError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        rate = result.frames / result.seconds if result.seconds > 0 else 0.0
        ran = f"{model} at strength {blend[1]:g}" if blend is not None else model
        status = (f"Done: {result.frames} frames, {result.width}x{result.height}, in {result.seconds:.1f} s "
                  f"({rate:.2f} frames/s), model {ran}.")
        job = {"source": str(source), "output": str(result.output)}
        return (status, str(result.output), gr.update(value=str(result.output), visible=True),
                gr.update(minimum=0, maximum=max(1, result.frames - 1), value=middle, interactive=True),
                (bicubic, upscaled), detail, job)

    def choose_model(name):
        return model_help(name, custom_weights), gr.update(visible=name in BLENDABLE_MODELS)

    def cancel(request: gr.Request):
        running = runner.cancel(request.session_hash)
        return "Cancelled: nothing was kept." if running else "Nothing of yours is running."

    def show_frame(index, job):
        if not job:
            return gr.update(), gr.update()
        try:
            bicubic, upscaled, detail = comparison(Path(job["source"]), Path(job["output"]), int(index))
        except SpectraFrameError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        return (bicubic, upscaled), detail

    limits = runner.limits
    accepted = [*VIDEO_SUFFIXES, ".zip"]
    with gr.Blocks(title="SpectraFrame", analytics_enabled=False, delete_cache=(600, 3600)) as page:
        gr.Markdown("# SpectraFrame\nVideo super-resolution on this computer: upload a clip, choose the model "
                    "and the size, and compare the result with plain bicubic enlargement.")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label=f"Video, or a .zip of frames ({', '.join(IMAGE_SUFFIXES)})",
                                 file_types=accepted, elem_id="upload")
                use_sample = gr.Checkbox(label="Upscale the sample clip instead (carphone, 176x144)", value=False,
                                         visible=sample_clip is not None, elem_id="use-sample")
                first_model = CUSTOM if custom_weights is not None else DEFAULT_MODEL
                model = gr.Dropdown(model_choices(custom_weights), label="Model", value=first_model, elem_id="model")
                model_info = gr.Markdown(model_help(first_model, custom_weights), elem_id="model-help")
                strength = gr.Slider(0, 1, value=1, step=0.05, label="Strength",
                                     info="1: the chosen model; 0: the default; in between, a blend of the two "
                                          "(less of its texture or clean-up, less flicker)",
                                     visible=first_model in BLENDABLE_MODELS, elem_id="strength")
                size = gr.Dropdown(SIZE_CHOICES, value=NETWORK_SIZE, allow_custom_value=True, label="Output size",
                                   info="the network's scale, a smaller one (x2) or a height (1080p); never more "
                                        "than the network makes", elem_id="size")
                with gr.Row():
                    precision = gr.Dropdown(PRECISIONS, value="auto", label="Precision",
                                            info="auto: int8 or bf16 on CPUs that have them, fp16 on GPUs",
                                            elem_id="precision")
                    crf = gr.Slider(0, 51, value=18, step=1, label="Encoder quality (CRF, lower is better)",
                                    elem_id="crf")
                gr.Markdown(f"Limits: {limits.max_upload_bytes / 1024**2:.0f} MB per upload, {limits.max_frames} "
                            f"frames, {limits.max_input_pixels:,} pixels a frame. One clip is upscaled at a time; "
                            "others wait in line.")
                with gr.Row():
                    run_button = gr.Button("Upscale", variant="primary", elem_id="run")
                    cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel")
                status = gr.Markdown(elem_id="status")
            with gr.Column():
                video = gr.Video(label="Result", interactive=False, elem_id="result-video")
                download = gr.DownloadButton("Download the video", visible=False, elem_id="download")
                frame = gr.Slider(0, 1, value=0, step=1, label="Frame to compare", interactive=False,
                                  elem_id="frame")
                before_after = gr.ImageSlider(label="bicubic | SpectraFrame (drag the line)", type="numpy",
                                              interactive=False, elem_id="compare")
                detail = gr.Image(label="Side by side, most detailed region zoomed below", interactive=False,
                                  elem_id="detail")
        job = gr.State({})
        run_event = run_button.click(
            start, [upload, use_sample, model, strength, size, precision, crf],
            [status, video, download, frame, before_after, detail, job],
            concurrency_limit=1, concurrency_id="upscale",
            # One progress bar, on the player: a busy overlay on each of the seven outputs is repainted by the
            # browser all through the run, on the cores the network needs.
            show_progress_on=[video],
        )
        model.change(choose_model, model, [model_info, strength], concurrency_limit=None, show_progress="hidden")
        cancel_button.click(cancel, None, status, cancels=[run_event], concurrency_limit=None)
        frame.release(show_frame, [frame, job], [before_after, detail], concurrency_limit=None)
    return page
