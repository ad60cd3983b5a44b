"""Streamlit demo of fernn: push digits past the training velocities, compare G-RNN and FERNN.

Run with ``streamlit run app.py``. UI only: every computation lives in :mod:`fernn.demo`
(rollouts, hidden-state views, exports) and :mod:`fernn.viz` (figures, GIFs).

Checkpoints are read from ``pretrained/`` next to this file, or from the folder named by the
``FERNN_CHECKPOINT_DIR`` environment variable, and only through :func:`fernn.load_checkpoint`
(``torch.load(weights_only=True)``). Widgets with a ``key`` below are bound to the URL, so a
link reproduces the view for MNIST-digit inputs.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

import fernn
from fernn import demo, viz
from fernn.data import load_digits, prepare_user_digit
from fernn.flows import velocity_set

CHECKPOINT_DIR_ENV = "FERNN_CHECKPOINT_DIR"
DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parent / "pretrained"
MAX_UPLOAD_MB = 2
MAX_UPLOAD_SIDE = 4096
MAX_DIGIT_SPEED = 4  # per-digit velocity sliders: -4..4 px/frame on each axis
MAX_SET_SPEED = 8  # widest FERNN velocity set offered: {-8..8}^2, 289 copies
SOURCES = ("MNIST", "Draw", "Upload")
NONE = "(none)"
BIND = "query-params"


@dataclass(frozen=True)
class InputChoice:
    """The digits chosen in the sidebar, or why there are none yet."""

    count: int
    images: tuple[np.ndarray, ...]
    labels: tuple[str, ...]
    problem: str = ""  # why the input is unusable; empty when images are ready
    severity: str = "info"  # "info" for a missing drawing, "error" for a bad upload


@dataclass(frozen=True)
class ModelChoice:
    """Checkpoint files to compare and how to run them."""

    directory: Path
    paths: tuple[Path, ...]
    velocity_set: str  # "as trained" or a max speed r, for V = {-r..r}^2
    device: str
    cost: object  # a sidebar container for the cost of the velocity set, filled once models are loaded


@dataclass(frozen=True)
class RunChoice:
    context_frames: int
    predict_frames: int
    seed: int


# ----------------------------------------------------------------------------- cached work


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=8)
def load_model(path: str, modified: float, size: int, device: str) -> fernn.Forecaster:
    """A checkpoint's model, loaded once per file version and device (mtime and size key it)."""
    return fernn.load_checkpoint(path, device)


@st.cache_data(show_spinner=False)
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits("test")


@st.cache_data(show_spinner="Running the models…", max_entries=16)
def run_comparison(model_keys: tuple, _models: dict, images: tuple[np.ndarray, ...], labels: tuple[str, ...],
                   velocities: tuple, starts: tuple, context_frames: int, predict_frames: int,
                   velocity_choice: str, stabilise: tuple[int, int]) -> demo.Comparison:
    """:func:`fernn.demo.compare`, cached by everything that determines its result."""
    digits = [demo.Digit(image, velocity, start, label)
              for image, velocity, start, label in zip(images, velocities, starts, labels)]
    return demo.compare(_models, digits, context_frames=context_frames, predict_frames=predict_frames,
                        velocities=None if velocity_choice == "as trained" else int(velocity_choice),
                        stabilise_velocity=stabilise)


# ----------------------------------------------------------------------------- input helpers


class UploadError(ValueError):
    """An uploaded file that cannot be used as a digit."""


def decode_upload(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> a numeric array for :func:`fernn.data.prepare_user_digit`.

    Checks the size from the header before decoding pixels and treats Pillow's decompression
    bomb warning as an error.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise UploadError(f"the file is {len(data) / 1024**2:.1f} MB; the limit is {MAX_UPLOAD_MB} MB")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("PNG", "JPEG"):
                    raise UploadError(f"expected a PNG or JPEG image, got {image.format or 'an unknown format'}")
                width, height = image.size
                if max(width, height) > MAX_UPLOAD_SIDE:
                    raise UploadError(f"the image is {width}x{height}; at most {MAX_UPLOAD_SIDE} pixels a side")
                if image.mode in ("I", "I;16", "F"):
                    return np.asarray(image, dtype=np.float64)
                return np.asarray(image.convert("RGBA"))
        except UploadError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise UploadError(f"this file is not a readable image ({error})") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise UploadError(f"the image could not be decoded ({error})") from None


def _forget_upload() -> None:
    if st.session_state.get("upload") is None:
        st.session_state.pop("uploaded_digit", None)


def _remember_drawing_restore() -> None:
    """Keep the last drawing so the canvas comes back with it after a source switch."""
    st.session_state["drawing_restore"] = st.session_state.get("drawing")


def _random_digits() -> None:
    """Pick random test digits, reproducibly from the seed and the number of draws so far."""
    draws = st.session_state.get("random_draws", 0) + 1
    st.session_state["random_draws"] = draws
    count = len(test_digits()[0])
    rng = np.random.default_rng([int(st.session_state.get("seed", 0)), draws])
    first, second = (int(i) for i in rng.integers(0, count, size=2))
    st.session_state["digit1"], st.session_state["digit2"] = first, second


def _preview(images: tuple[np.ndarray, ...], labels: tuple[str, ...]) -> None:
    columns = st.columns(max(len(images), 2))
    for column, image, label in zip(columns, images, labels):
        column.image(viz.upscale(image, 4), caption=label, clamp=True)


def _canvas_digit() -> tuple[np.ndarray | None, str]:
    """The drawn digit (28x28) or None, and a message when there is none."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as error:  # the component can fail to register on unusual installs
        return None, f"The drawing canvas is unavailable ({error}). Pick MNIST digits or upload an image."
    st.caption("Draw one digit, white on black. The toolbar under the canvas undoes or clears.")
    result = st_canvas(fill_color="rgba(0, 0, 0, 0)", stroke_width=18, stroke_color="#FFFFFF",
                       background_color="#000000", height=224, width=224, drawing_mode="freedraw",
                       initial_drawing=st.session_state.get("drawing_restore"), return_image_data=True,
                       key="canvas")
    image = result.image_data
    if image is None:  # nothing sent since the canvas was (re)mounted: keep the last drawing, if any
        stored = st.session_state.get("drawn_digit")
        return (stored, "") if stored is not None else (None, "Draw a digit on the canvas to start.")
    st.session_state["drawing"] = result.json_data
    try:
        digit = prepare_user_digit(image)
    except ValueError as error:
        st.session_state.pop("drawn_digit", None)
        return None, f"Draw a digit on the canvas to start ({error})."
    st.session_state["drawn_digit"] = digit
    return digit, ""


def _upload_digit() -> tuple[np.ndarray | None, str, str]:
    """The uploaded digit (28x28) or None, its label, and a message when there is none."""
    upload = st.file_uploader(f"PNG or JPEG, at most {MAX_UPLOAD_MB} MB", type=["png", "jpg", "jpeg"],
                              key="upload", max_upload_size=MAX_UPLOAD_MB, on_change=_forget_upload)
    if upload is None:
        stored = st.session_state.get("uploaded_digit")
        if stored is not None:
            st.caption(f"Using {stored[1]}, uploaded earlier.")
            return stored[0], stored[1], ""
        return None, "", "Upload a PNG or JPEG image of a digit to start."
    try:
        digit = prepare_user_digit(decode_upload(upload.getvalue()))
    except (UploadError, ValueError) as error:
        return None, "", f"Cannot use {upload.name}: {error}"
    label = f"upload {upload.name[:24]}"
    st.session_state["uploaded_digit"] = (digit, label)
    return digit, label, ""


# ----------------------------------------------------------------------------- sidebar sections


def sidebar_input() -> InputChoice:
    """Section 1: where the digits come from."""
    st.header("1 · Input")
    source = st.radio("Digit source", SOURCES, key="source", bind=BIND, horizontal=True,
                      on_change=_remember_drawing_restore,
                      help="Held-out MNIST test digits, your own drawing, or an uploaded image.")
    count = st.radio("Number of digits", (1, 2), key="digits", bind=BIND, horizontal=True)
    images, labels = test_digits()
    last = len(images) - 1

    def mnist(slot: int, default: int) -> tuple[np.ndarray, str]:
        index = st.number_input(f"MNIST test digit #{slot} (0–{last})", min_value=0, max_value=last,
                                value=default, step=1, key=f"digit{slot}", bind=BIND)
        return images[index].astype(np.float32) / 255.0, f"MNIST #{index} (a {labels[index]})"

    chosen: list[tuple[np.ndarray, str]] = []
    problem, severity = "", "info"
    if source == "MNIST":
        chosen.append(mnist(1, 7))
    elif source == "Draw":
        digit, problem = _canvas_digit()
        if digit is not None:
            chosen.append((digit, "drawn"))
    else:
        digit, label, problem = _upload_digit()
        severity = "error" if problem.startswith("Cannot use") else "info"
        if digit is not None:
            chosen.append((digit, label))
    if count == 2:
        chosen.append(mnist(2, 3))
    if source == "MNIST" or count == 2:
        st.button("Random test digits", on_click=_random_digits, help="Uses the seed set under 4 · Run.")
    if problem:
        return InputChoice(count, (), (), problem, severity)
    result = InputChoice(count, tuple(image for image, _ in chosen), tuple(label for _, label in chosen))
    _preview(result.images, result.labels)
    return result


def sidebar_motion(count: int) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Section 2: each digit's velocity and start, with the training range marked."""
    st.header("2 · Motion")
    st.caption(f"Velocities in px/frame, **trained range: −{demo.TRAINING_MAX_SPEED}…{demo.TRAINING_MAX_SPEED}** "
               "on each axis. Positive dy moves down, positive dx moves right; the canvas wraps around.")
    defaults = ((1, 2), (-1, 1))
    spread = demo.default_starts(count)
    trained = f"trained on −{demo.TRAINING_MAX_SPEED}…{demo.TRAINING_MAX_SPEED}"
    velocities, starts = [], []
    for slot in range(1, count + 1):
        st.markdown(f"**Digit {slot}**")
        left, right = st.columns(2)
        dy = left.slider("dy ↓", -MAX_DIGIT_SPEED, MAX_DIGIT_SPEED, defaults[slot - 1][0], key=f"vy{slot}",
                         bind=BIND, help=f"Vertical velocity, px/frame ({trained}).")
        dx = right.slider("dx →", -MAX_DIGIT_SPEED, MAX_DIGIT_SPEED, defaults[slot - 1][1], key=f"vx{slot}",
                          bind=BIND, help=f"Horizontal velocity, px/frame ({trained}).")
        speed = max(abs(dy), abs(dx))
        if speed <= demo.TRAINING_MAX_SPEED:
            st.markdown(f":green[✓ ({dy}, {dx}) is inside the training range]")
        else:
            st.markdown(f":orange[⚠ ({dy}, {dx}) is **beyond the training range**: no training sequence moved "
                        f"faster than {demo.TRAINING_MAX_SPEED} px/frame]")
        with st.expander(f"Start position of digit {slot}"):
            y = st.slider("shift down", -14, 13, 0, key=f"y{slot}", bind=BIND)
            x = st.slider("shift right", -14, 13, 0, key=f"x{slot}", bind=BIND)
        velocities.append((dy, dx))
        starts.append((spread[slot - 1][0] + y, spread[slot - 1][1] + x))
    return tuple(velocities), tuple(starts)


def checkpoint_directory() -> Path:
    return Path(os.environ.get(CHECKPOINT_DIR_ENV) or DEFAULT_CHECKPOINT_DIR)


def sidebar_models() -> ModelChoice:
    """Section 3: checkpoints, the FERNN's velocity set at inference and its cost, device."""
    st.header("3 · Models")
    directory = checkpoint_directory()
    files = sorted(p.name for p in directory.glob("*.pt")) if directory.is_dir() else []
    paths: list[Path] = []
    if not files:
        where = "does not exist" if not directory.is_dir() else "holds no .pt checkpoints"
        st.error(f"The checkpoint folder `{directory}` {where}. Train models with `python -m fernn.train` and copy "
                 f"them there, or point `{CHECKPOINT_DIR_ENV}` at a folder of checkpoints.")
    else:
        first = files.index("grnn.pt") if "grnn.pt" in files else 0
        options_b = [NONE, *files]
        second = options_b.index("fernn.pt") if "fernn.pt" in files else (2 if len(files) > 1 else 0)
        a = st.selectbox("Left model", files, index=first, key="model_a", bind=BIND,
                         help=f"Any .pt under `{directory}`.")
        b = st.selectbox("Right model", options_b, index=second, key="model_b", bind=BIND)
        paths = [directory / a] + ([directory / b] if b != NONE else [])
    choices = ["as trained", *[str(r) for r in range(MAX_SET_SPEED + 1)]]
    velocity_choice = st.selectbox(
        "FERNN velocity set at inference: max speed r", choices, key="vset", bind=BIND,
        help="V = {−r…r}² (one hidden copy per velocity). Weights are shared across copies, so a FERNN runs with "
             "any set: a wider set covers faster inputs zero-shot. G-RNNs always run with V = {(0, 0)}.")
    cost = st.container()
    device = st.radio("Device", ("auto", "cpu", "cuda"), key="device", bind=BIND, horizontal=True,
                      help="auto: CUDA when available, else CPU.")
    return ModelChoice(directory, tuple(paths), velocity_choice, device, cost)


def show_velocity_set_cost(choice: ModelChoice, models: dict[str, fernn.Forecaster], frames: int) -> bool:
    """Under the velocity-set control: copies, compute and memory per FERNN. False if over the limit."""
    chosen = None if choice.velocity_set == "as trained" else velocity_set(int(choice.velocity_set))
    fits = True
    for name, model in models.items():
        if model.config.kind != "fernn":
            continue
        copies = len(demo.run_velocities(model, chosen))
        need = demo.rollout_memory_bytes(num_copies=copies, hidden_channels=model.config.hidden_channels,
                                         num_frames=frames)
        text = (f"{name}: {copies} copies, ≈ {copies}× a G-RNN's recurrent compute, "
                f"≈ {need / 1024**2:,.0f} MiB of hidden states for {frames} frames")
        if need > demo.DEFAULT_MEMORY_LIMIT:
            fits = False
            choice.cost.error(f"{text}: over the {demo.DEFAULT_MEMORY_LIMIT // 1024**2:,} MiB limit. Choose a "
                              "smaller set or fewer frames.")
        else:
            choice.cost.caption(text + ".")
    return fits


def sidebar_run() -> RunChoice:
    """Section 4: rollout length and seed."""
    st.header("4 · Run")
    context = st.slider("Context frames (the models read these)", 1, 20, 10, key="context", bind=BIND)
    predict = st.slider("Predicted frames", 1, 70, 10, key="predict", bind=BIND,
                        help="Training used 10; longer rollouts test length generalisation.")
    seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="seed", bind=BIND,
                           help="Drives the random digit picks and the live velocity-grid sequences.")
    return RunChoice(int(context), int(predict), int(seed))


# ----------------------------------------------------------------------------- main area


def kind_label(model: fernn.Forecaster) -> str:
    return "G-RNN" if model.config.kind == "grnn" else "FERNN"


def display_names(paths: tuple[Path, ...], models: list[fernn.Forecaster]) -> list[str]:
    """"G-RNN" / "FERNN", with the file stem added when that alone would not tell them apart."""
    kinds = [kind_label(m) for m in models]
    names = [kind if kinds.count(kind) == 1 else f"{kind} {path.stem}" for kind, path in zip(kinds, paths)]
    return names if len(set(names)) == len(names) else [f"{n} ({i + 1})" for i, n in enumerate(names)]


def resolve_device(choice: str) -> str:
    try:
        return str(fernn.resolve_device(choice))
    except RuntimeError:
        st.warning("CUDA is not available on this machine: running on the CPU instead.")
        return "cpu"


def load_models(choice: ModelChoice) -> tuple[dict[str, fernn.Forecaster], tuple]:
    """Load the chosen checkpoints; shows a specific error and skips any that cannot be used."""
    device = resolve_device(choice.device)
    loaded, keys, paths = [], [], []
    for path in choice.paths:
        try:
            stat = path.stat()
            model = load_model(str(path), stat.st_mtime, stat.st_size, device)
        except FileNotFoundError:
            st.error(f"Checkpoint `{path.name}` is missing from `{path.parent}`; pick another one.")
            continue
        except fernn.CheckpointError as error:
            st.error(f"Checkpoint `{path.name}` cannot be used: {error}")
            continue
        except Exception as error:  # torch.load can raise others (e.g. IndexError) on a garbled file
            st.error(f"Checkpoint `{path.name}` cannot be used: reading it failed with {type(error).__name__}: {error}")
            continue
        loaded.append(model)
        paths.append(path)
        keys.append((str(path), stat.st_mtime, stat.st_size, device))
    names = display_names(tuple(paths), loaded)
    for name, path, model in zip(names, paths, loaded):
        if not demo.is_evaluated(model):
            st.warning(f"**{name}** (`{path.name}`) has no recorded evaluation: treat it as untrained. Its numbers "
                       "below describe this one input only and are not results.")
    return dict(zip(names, loaded)), tuple(keys)


def show_summary(comparison: demo.Comparison) -> None:
    runs = comparison.runs
    columns = st.columns(len(runs) + 2)
    for column, run in zip(columns, runs):
        suffix = "" if run.evaluated else " (unevaluated)"
        column.metric(f"{run.name} mean MSE{suffix}", f"{run.mean_mse:.2e}",
                      help=f"Over the {comparison.predict_frames} predicted frames of this input.")
    columns[len(runs)].metric("copy last frame", f"{comparison.baseline_mean_mse:.2e}",
                              help="Baseline: repeat the last context frame.")
    if len(runs) == 2:
        ratio = runs[0].mean_mse / max(runs[1].mean_mse, 1e-12)
        columns[len(runs) + 1].metric(f"{runs[0].name} ÷ {runs[1].name}", f"{ratio:.1f}×",
                                      help="Ratio of the mean MSEs; above 1 means the right model is better.")
    timings = " · ".join(f"{run.name}: {run.seconds * 1000:.0f} ms with {len(run.velocities)} "
                         f"cop{'y' if len(run.velocities) == 1 else 'ies'} on {run.device}" for run in runs)
    st.caption(f"Rollout time: {timings}.")


def show_comparison(comparison: demo.Comparison) -> None:
    show_summary(comparison)
    st.plotly_chart(viz.comparison_animation(comparison), key="animation", config={"displaylogo": False})
    st.plotly_chart(viz.mse_figure(comparison), key="mse", config={"displaylogo": False})
    left, right = st.columns(2)
    left.download_button("⬇ Comparison as GIF", data=lambda: viz.comparison_gif(comparison),
                         file_name="fernn-comparison.gif", mime="image/gif", key="download_gif")
    right.download_button("⬇ Raw arrays (.npz)", data=lambda: demo.comparison_npz(comparison),
                          file_name="fernn-comparison.npz", mime="application/octet-stream", key="download_npz")


def show_inside(comparison: demo.Comparison) -> None:
    channels_available = min(run.hidden_channels for run in comparison.runs)
    options = list(range(channels_available))
    top = st.columns([3, 2, 2])
    channels = top[0].multiselect("Hidden channels", options, default=options[:4], key="channels", bind=BIND,
                                  max_selections=8)
    view = top[1].radio("FERNN state", ("pooled", "copy"), key="view", bind=BIND, horizontal=True,
                        help="pooled: max over velocity copies, what the decoder reads. copy: the single copy read "
                             "out as the input's velocity.")
    stabilised = top[2].toggle("Motion-stabilised", value=True, key="stabilised", bind=BIND,
                               help="Roll each map back by the input's accumulated motion: structure that moves "
                                    "with the digit stands still, a smear left behind drifts away.")
    if not channels:
        st.info("Choose at least one hidden channel to show.")
    else:
        st.plotly_chart(viz.hidden_animation(comparison, channels, stabilised=stabilised, view=view),
                        key="hidden", config={"displaylogo": False})
    lifted = [run for run in comparison.runs if len(run.velocities) > 1]
    if not lifted:
        st.info("No model here has more than one velocity copy: choose a FERNN checkpoint to see the velocity "
                "read-out.")
        return
    for run in lifted:
        st.subheader(f"{run.name}: which velocity copy is active?")
        distinct = list(dict.fromkeys(comparison.digit_velocities))
        readout = run.ranking[: len(distinct)]
        left, right = st.columns([1, 2])
        left.metric("Velocity read-out (dy, dx)", ", ".join(map(str, readout)),
                    help="The copy with the largest RMS activity over the context frames (the top two for two "
                         "digits with different velocities).")
        left.metric("True velocity", ", ".join(map(str, distinct)))
        hits = set(readout) == set(distinct)
        outside = [v for v in comparison.digit_velocities if v not in run.velocities]
        if outside:
            left.warning(f"{', '.join(map(str, outside))} is outside this run's velocity set: no copy moves with "
                         "it. Widen the set under 3 · Models.")
        elif hits:
            left.success("The copy moving with the input is the most active.")
        else:
            left.info("The read-out differs from the true velocity for this input.")
        with right:
            st.plotly_chart(viz.velocity_activity_animation(comparison, run), key=f"activity_{run.name}",
                            config={"displaylogo": False})


def show_generalisation(models: dict[str, fernn.Forecaster], seed: int, velocity_choice: str) -> None:
    if not models:
        st.info("No model loaded: choose checkpoints under 3 · Models.")
        return
    st.markdown("Test MSE for sequences whose digits all move at one fixed velocity (dy, dx). The dashed box is "
                f"the training range |v| ≤ {demo.TRAINING_MAX_SPEED}; the solid box is a FERNN's velocity set.")
    grids, speeds = {}, {}
    for name, model in models.items():
        grid = demo.recorded_velocity_grid(model)
        if grid is None:
            st.info(f"{name}: no recorded velocity grid (the checkpoint has no evaluation).")
            continue
        grids[name] = grid
        speeds[name] = _set_speed(demo.run_velocities(model, None)) if model.config.kind == "fernn" else None
    if grids:
        st.plotly_chart(viz.velocity_grid_figure(grids, training_speed=demo.TRAINING_MAX_SPEED, model_speeds=speeds),
                        key="grid_recorded", config={"displaylogo": False})
        recorded = [f"{name} {model.metrics['evaluation']['test_mse']:.2e}" for name, model in models.items()
                    if name in grids and isinstance(model.metrics["evaluation"].get("test_mse"), (int, float))]
        if recorded:
            st.caption("Recorded held-out test MSE (velocities within the training range): " + ", ".join(recorded)
                       + ".")
    with st.expander("Recompute a small grid live"):
        live_grid(models, seed, velocity_choice)


def _set_speed(velocities: tuple) -> int | None:
    """r when the set is exactly {-r..r}^2, else None."""
    radius = max(max(abs(dy), abs(dx)) for dy, dx in velocities)
    return radius if tuple(velocities) == velocity_set(radius) else None


def live_grid(models: dict[str, fernn.Forecaster], seed: int, velocity_choice: str) -> None:
    try:
        from fernn.evaluate import velocity_grid_mse
    except ImportError as error:
        st.info(f"Live recomputation needs `fernn.evaluate`, which is not available here ({error}).")
        return
    left, middle = st.columns(2)
    radius = left.select_slider("Speeds up to", options=[1, 2, 3], value=2, key="grid_speed")
    sequences = middle.select_slider("Sequences per velocity", options=[1, 2, 4, 8, 16], value=4, key="grid_sequences")
    cells = (2 * radius + 1) ** 2
    st.caption(f"{cells} velocities × {sequences} sequences × {len(models)} models, with the velocity set chosen "
               "under 3 · Models.")
    key = (tuple(models), radius, sequences, seed, velocity_choice)
    if st.button("Recompute", key="grid_run"):
        results = {}
        bar = st.progress(0.0, text="Starting…")
        try:
            for index, (name, model) in enumerate(models.items()):
                chosen = None if velocity_choice == "as trained" else velocity_set(int(velocity_choice))

                def progress(done: int, total: int, index: int = index, name: str = name) -> None:
                    bar.progress((index + done / total) / len(models), text=f"{name}: {done}/{total} velocities")

                results[name] = velocity_grid_mse(
                    model, speeds=range(-radius, radius + 1), num_sequences=sequences, seed=seed, context_frames=10,
                    predict_frames=10, velocities=demo.run_velocities(model, chosen), progress=progress)
        except Exception as error:  # a failing evaluation must not take the page down
            bar.empty()
            st.error(f"The live grid failed: {type(error).__name__}: {error}")
            return
        bar.empty()
        st.session_state["live_grid"] = (key, results)
    stored = st.session_state.get("live_grid")
    if stored and stored[0] == key:
        speeds = {name: (_set_speed(demo.run_velocities(model, None if velocity_choice == "as trained"
                                                       else velocity_set(int(velocity_choice))))
                         if model.config.kind == "fernn" else None) for name, model in models.items()}
        st.plotly_chart(viz.velocity_grid_figure(stored[1], training_speed=demo.TRAINING_MAX_SPEED,
                                                 model_speeds=speeds), key="grid_live", config={"displaylogo": False})
        st.caption("Live numbers use few sequences: expect noise; the recorded grid above uses many more.")


EXPLANATION = """
**Flows.** A flow moves a whole image at a constant velocity: at frame *t* every pixel has been
carried *t × (dy, dx)* pixels. Here the canvas is a torus, so a digit leaving on the right comes
back on the left. Each digit gets its own velocity; the models read the first frames (the
*context*) and then predict the rest on their own, feeding each prediction back as the next input.

**Why an ordinary recurrent network struggles.** The G-RNN is a convolutional RNN: its hidden state
is a stack of feature maps, updated by convolving the previous state and the new frame. The
convolutions treat every position alike, but the memory does not move: what the network saw one
frame ago stays where it was seen, while the digit has moved on. A moving digit therefore leaves a
trail in the hidden state, and the network has to learn, speed by speed, how to undo that. It learns
it for the speeds it was trained on (here at most 1 px/frame) and fails beyond them. In the
motion-stabilised view, its maps smear and drift.

**What the FERNN does instead.** The FERNN keeps one copy of the hidden state per velocity *ν* in a
set *V*, and before every update it moves copy *ν* by *ν* pixels. The copy whose *ν* equals the
digit's velocity moves along with the digit, so to that copy the digit appears to stand still and
its memory stays aligned. A max over the copies feeds the same decoder as the G-RNN's. All copies
share one set of weights (the FERNN has exactly the G-RNN's parameters), so the set *V* can be
widened after training; it costs compute and memory in proportion to the number of copies. This
construction makes the network *flow equivariant*: moving the input sequence moves its hidden
state in a predictable way instead of smearing it.

**What "training range" means.** Both shipped checkpoints saw only digits moving at most 1 px/frame
on each axis. Velocities beyond that are new to both. The G-RNN has to extrapolate, and it
usually cannot. The FERNN generalises to any velocity inside its set *V* (|v| ≤ 2 as trained), because
the copy for that velocity turns the new motion into the standing-still case it already knows.
Beyond *V* it loses that advantage, unless you widen *V* under *3 · Models*.

**Reading the panels.** *Comparison*: ground truth, each model's prediction and its absolute error,
with one slider for all panels; the MSE curve has one point per predicted frame, plus the
copy-the-last-frame baseline. *Inside the models*: hidden-state channels (brighter = more active,
each panel scaled to its own maximum), and for a FERNN the activity of every velocity copy on the
(dy, dx) grid: the copy matching the input lights up, which reads out the velocity.
*Velocity generalisation*: the MSE over a grid of velocities, as recorded by the checkpoints'
evaluation.
"""


TABS = ("Comparison", "Inside the models", "Velocity generalisation", "What am I looking at?")


def configure_torch() -> None:
    """One CPU thread unless ``FERNN_TORCH_THREADS`` says otherwise.

    The demo's tensors are small (28x28 maps): extra intra-op threads mostly add scheduling
    overhead, and on a busy 2-core machine they make a rollout several times slower.
    """
    import torch

    try:
        threads = int(os.environ.get("FERNN_TORCH_THREADS", "1"))
    except ValueError:
        threads = 1
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def compute_comparison(tabs, choice: InputChoice, motion: tuple, run: RunChoice, models_choice: ModelChoice,
                       models: dict, keys: tuple, fits: bool) -> demo.Comparison | None:
    """The cached comparison, or None after telling the user, in the first two tabs, why not."""
    def tell(message: str, kind: str = "info") -> None:
        for tab in tabs[:2]:
            getattr(tab, kind)(message)

    velocities, starts = motion
    if choice.problem:
        tell(choice.problem, choice.severity)
        return None
    if not models:
        tell("No model loaded: choose checkpoints under 3 · Models.")
        return None
    if not fits:
        tell("The chosen velocity set needs more memory than this demo allows (see 3 · Models): nothing was run. "
             "Your settings are kept; choose a smaller set or fewer frames.", "error")
        return None
    stabilise_digit = 1
    if len(velocities) > 1 and tabs[1].open:
        stabilise_digit = int(tabs[1].radio("Stabilise on the motion of digit", (1, 2), key="stabilise_on",
                                            bind=BIND, horizontal=True))
    try:
        return run_comparison(keys, models, choice.images, choice.labels, velocities, starts, run.context_frames,
                              run.predict_frames, models_choice.velocity_set, velocities[stabilise_digit - 1])
    except demo.DemoError as error:
        tell(f"Cannot run this comparison: {error}", "error")
    except (RuntimeError, MemoryError) as error:
        tell(f"The rollout failed: {type(error).__name__}: {error}. Try fewer frames or a smaller velocity set.",
             "error")
    return None


def main() -> None:
    st.set_page_config(page_title="FERNN vs G-RNN", page_icon="🌀", layout="wide")
    configure_torch()
    st.title("Flow Equivariant RNNs: moving digits past the training velocities")
    with st.sidebar:
        choice = sidebar_input()
        motion = sidebar_motion(choice.count)
        run = sidebar_run()
        models_choice = sidebar_models()
    models, keys = load_models(models_choice)  # its notices go above the tabs, where they are seen
    tabs = st.tabs(TABS, key="tab", bind=BIND)
    tabs[3].markdown(EXPLANATION)
    fits = show_velocity_set_cost(models_choice, models, run.context_frames + run.predict_frames)
    if tabs[2].open:
        with tabs[2]:
            show_generalisation(models, run.seed, models_choice.velocity_set)
    if tabs[0].open or tabs[1].open:
        comparison = compute_comparison(tabs, choice, motion, run, models_choice, models, keys, fits)
        if comparison is not None and tabs[0].open:
            with tabs[0]:
                show_comparison(comparison)
        if comparison is not None and tabs[1].open:
            with tabs[1]:
                show_inside(comparison)


if __name__ == "__main__":
    main()
