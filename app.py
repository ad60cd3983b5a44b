"""Streamlit demo of fernn: push digits past the training velocities, compare G-RNN and FERNN.

Run with ``streamlit run app.py``. UI only: every computation lives in :mod:`fernn.showcase` and
every figure in :mod:`fernn.viz`. Checkpoints come from ``pretrained/`` or the folder named by
``FERNN_CHECKPOINT_DIR``, through :func:`fernn.load_checkpoint` (``weights_only=True``). Widgets
with ``bind`` are mirrored in the URL, and a drawn or uploaded digit travels in it too
(``d1``), so a link reproduces the view.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import streamlit as st

import fernn
from fernn import serving, showcase, viz
from fernn.flows import TRANSLATION
from fernn.data import load_digits

CHECKPOINT_DIR = Path(os.environ.get("FERNN_CHECKPOINT_DIR") or Path(__file__).resolve().parent / "pretrained")
MAX_DIGIT_SPEED = 4  # per-digit velocity sliders: -4..4 px/frame on each axis
BIND = "query-params"
CHART = dict(config={"displaylogo": False, "responsive": True})
TABS = ("Comparison", "Inside", "Velocities", "About")  # short: all four fit a 400 px phone
RENAMED_TABS = {"Inside the models": "Inside", "Velocity generalisation": "Velocities", "What am I looking at?": "About"}
VELOCITY_CHOICES = (showcase.AUTO, showcase.AS_TRAINED, *map(str, range(showcase.MAX_SET_SPEED + 1)))


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=8)
def load_model(path: str, modified: float, size: int) -> fernn.Forecaster:
    return fernn.load_checkpoint(path, fernn.resolve_device("auto"))


@st.cache_resource
def server() -> tuple[serving.ComparisonCache, serving.RunSlots]:
    """Shared by every session: comparisons bounded by bytes, and the heavy-run queue."""
    config = serving.settings_from_environment(os.environ)  # main() has shown any problem with it
    return serving.ComparisonCache(config.cache_megabytes * 1024**2), serving.RunSlots(config.run_slots)


@st.cache_data(max_entries=64, show_spinner="Reading the image…")
def upload_digit(data: bytes) -> np.ndarray:
    """Once per distinct file, in a run slot: decoding is the costly part of an upload."""
    return serving.digit_from_upload(data, slots=server()[1])


@st.cache_data(show_spinner=False)
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits("test")


def _random_digits() -> None:
    draws = st.session_state.get("random_draws", 0) + 1
    st.session_state["random_draws"] = draws
    rng = np.random.default_rng([int(st.session_state.get("seed", 0)), draws])
    count = len(test_digits()[0])
    st.session_state["digit1"], st.session_state["digit2"] = (int(i) for i in rng.integers(0, count, size=2))


def _own_digit(source: str) -> tuple[np.ndarray | None, str]:
    """A drawn or uploaded digit, from the widget or, until this session draws or uploads, from
    the link (``d1``); or a message. An emptied canvas or a failed upload leaves no digit in use."""
    made, problem = None, ""
    if source == "Draw":
        from streamlit_drawable_canvas import st_canvas

        st.caption("Draw one digit, white on black; the toolbar above the canvas undoes or clears.")
        pixels = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=224,
                           width=224, drawing_mode="freedraw", return_image_data=True, key="canvas").image_data
        empty = "Draw a digit on the canvas to start."
        try:
            made = serving.digit_from_drawing(pixels)
        except showcase.DemoError as error:
            problem = f"Cannot use this drawing: {error}."
    else:
        upload = st.file_uploader(f"PNG or JPEG, at most 2 MB and {serving.MAX_UPLOAD_PIXELS / 1e6:.0f} megapixel",
                                  type=["png", "jpg", "jpeg"], key="upload")
        empty = "Upload a PNG or JPEG image of a digit to start."
        try:
            made = None if upload is None else upload_digit(upload.getvalue())
        except showcase.DemoError as error:
            problem = f"Cannot use {upload.name}: {error}. No digit is in use until an upload succeeds."
    chosen = serving.use_own_digit(made, problem, empty=empty, link=st.query_params, state=st.session_state)
    if chosen.from_link:
        st.caption("Using the digit from the link; draw or upload to replace it.")
    return chosen.image, chosen.message


def sidebar_input() -> tuple[list[tuple[np.ndarray, str] | None], str, str]:
    """One ``(image, label)`` per digit slot (``None`` where there is none yet), and why not."""
    st.header("1 · Input")
    source = st.radio("Digit source", ("MNIST", "Draw", "Upload"), key="source", bind=BIND, horizontal=True)
    count = st.radio("Number of digits", (1, 2), key="digits", bind=BIND, horizontal=True)
    images, labels = test_digits()

    def mnist(slot: int, default: int) -> tuple[np.ndarray, str]:
        index = st.number_input(f"MNIST test digit #{slot} (0–{len(images) - 1})", 0, len(images) - 1, default,
                                key=f"digit{slot}", bind=BIND)
        return images[index].astype(np.float32) / 255.0, f"MNIST #{index} (a {labels[index]})"

    chosen, problem = [], ""
    if source == "MNIST":
        chosen.append(mnist(1, 7))
    else:
        digit, problem = _own_digit(source)
        chosen.append(None if digit is None else (digit, "drawn" if source == "Draw" else "uploaded"))
    if count == 2:
        chosen.append(mnist(2, 3))
    if source == "MNIST" or count == 2:
        st.button("Random test digits", on_click=_random_digits)
    if not problem:
        for column, (image, label) in zip(st.columns(2), chosen):
            column.image(viz.upscale(image, 4), caption=label, clamp=True)
    else:
        chosen[0] = None
    return chosen, problem, "error" if problem.startswith(("Cannot", "This link")) else "info"


def check_link() -> None:
    """Once per session, before any widget reads the URL: a bad value is replaced in the link,
    with a note (a widget meeting ``digit1=inf`` would break the page)."""
    fields = serving.demo_link_fields(test_digits=len(test_digits()[0]),
                                      checkpoints=serving.checkpoint_files(CHECKPOINT_DIR),
                                      velocity_choices=VELOCITY_CHOICES, tabs=TABS, renamed_tabs=RENAMED_TABS,
                                      max_digit_speed=MAX_DIGIT_SPEED)
    found = serving.check_link({key: st.query_params.get_all(key) for key in st.query_params}, fields)
    st.session_state["link_checked"], st.session_state["link_notes"] = True, found.notes
    if found.changed:
        st.query_params.from_dict(found.params)
        st.rerun()  # the widgets read the URL the run starts with


def sidebar_motion(chosen: list[tuple[np.ndarray, str] | None], training_speed: int | None) -> list[showcase.Digit]:
    """Each slot's velocity and start (sliders even for a slot still waiting for its digit)."""
    st.header("2 · Motion")
    trained = f"−{training_speed}…{training_speed}" if training_speed is not None else "not recorded"
    st.caption(f"px/frame; **training range {trained}** on each axis. dy moves down, dx right; the canvas wraps.")
    defaults, starts, digits = ((1, 2), (-1, 1)), showcase.default_starts(len(chosen)), []
    for slot, item in enumerate(chosen, start=1):
        left, right = st.columns(2)
        dy = left.slider(f"dy ↓ digit {slot}", -MAX_DIGIT_SPEED, MAX_DIGIT_SPEED, defaults[slot - 1][0],
                         key=f"vy{slot}", bind=BIND)
        dx = right.slider(f"dx → digit {slot}", -MAX_DIGIT_SPEED, MAX_DIGIT_SPEED, defaults[slot - 1][1],
                          key=f"vx{slot}", bind=BIND)
        if training_speed is not None and TRANSLATION.speed((dy, dx)) > training_speed:
            st.markdown(f":orange[⚠ {TRANSLATION.label((dy, dx))} is **beyond the training range**]")
        with st.expander(f"Start position of digit {slot}"):
            y = st.slider("shift down", -14, 13, 0, key=f"y{slot}", bind=BIND)
            x = st.slider("shift right", -14, 13, 0, key=f"x{slot}", bind=BIND)
        if item is not None:
            start = (starts[slot - 1][0] + y, starts[slot - 1][1] + x)
            digits.append(showcase.Digit(item[0], (dy, dx), start, item[1]))
    return digits


def sidebar_settings() -> serving.RunSettings:
    st.header("3 · Models")
    files = serving.checkpoint_files(CHECKPOINT_DIR)
    paths: tuple[Path, ...] = ()
    if not files:
        st.error(f"No .pt checkpoints in the folder `{CHECKPOINT_DIR.name}`: train with `python -m fernn.train` or "
                 "point `FERNN_CHECKPOINT_DIR` at a folder of checkpoints.")
    else:
        left = st.selectbox("Left model", files, files.index("grnn.pt") if "grnn.pt" in files else 0,
                            key="model_a", bind=BIND)
        options = ["(none)", *files]
        right = st.selectbox("Right model", options, options.index("fernn.pt") if "fernn.pt" in files else 0,
                             key="model_b", bind=BIND)
        paths = tuple(CHECKPOINT_DIR / name for name in (left, right) if name != "(none)")
    choice = st.selectbox("FERNN velocity set at inference: auto, as trained, or r", VELOCITY_CHOICES, key="vset",
                          bind=BIND,
                          help="One hidden copy per velocity; the weights are shared, so any set runs. A FERNN "
                               "tracks a velocity only if it is in the set: 'auto' widens it to cover the digits.")
    st.caption(showcase.describe_velocity_choice(choice))
    st.header("4 · Run")
    context = st.slider("Context frames (the models read these)", 1, 20, 10, key="context", bind=BIND)
    predict = st.slider("Predicted frames", 1, 70, 10, key="predict", bind=BIND, help="Training used 10 to 20.")
    seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="seed", bind=BIND, help="For random digits and live grids.")
    velocities = choice if choice in (showcase.AUTO, showcase.AS_TRAINED) else int(choice)
    return serving.RunSettings(paths, velocities, int(context), int(predict), int(seed))


def load_models(paths: tuple[Path, ...]) -> tuple[dict[str, fernn.Forecaster], tuple]:
    """The chosen checkpoints by display name, and a key naming the files' versions; a specific
    error for each that cannot be used."""
    models, versions = {}, []
    for item in serving.open_checkpoints(paths, load_model):
        if item.problem:
            st.error(f"Checkpoint `{item.path.name}` cannot be used: {item.problem}")
            continue
        if not item.evaluated:
            st.warning(f"**{item.name}** (`{item.path.name}`) has no recorded evaluation: treat it as untrained.")
        models[item.name] = item.model
        versions.append(item.version)
    return models, tuple(versions)


def run(models: dict, versions: tuple, digits: tuple[showcase.Digit, ...], settings: serving.RunSettings,
        top) -> showcase.Comparison | None:
    """The comparison, from the shared cache or computed with progress at the top of the page."""
    cache, slots = server()
    key = (versions, tuple((d.image.tobytes(), d.velocity, d.start)
           for d in digits), settings.velocities, settings.context_frames, settings.predict_frames)
    found = cache.get(key)
    if found is not None:
        return found
    started = time.perf_counter()

    def progress(fraction: float, text: str) -> None:
        if time.perf_counter() - started > 0.5:
            top.progress(min(fraction, 1.0), text=f"Running the models… {text}")

    try:
        with slots.hold(on_wait=lambda: top.info("⏳ Waiting for a free slot: other visitors' runs are ahead.")):
            comparison = showcase.compare(models, digits, context_frames=settings.context_frames,
                                      predict_frames=settings.predict_frames, velocities=settings.velocities,
                                      progress=progress)
    except (ValueError, RuntimeError, MemoryError) as error:  # DemoError is a ValueError
        top.error(f"Cannot run this comparison: {error}")
        return None
    top.empty()
    cache.put(key, comparison)
    return comparison


def show_message(comparison: showcase.Comparison) -> None:
    st.markdown(showcase.headline(comparison))
    columns = st.columns(len(comparison.runs) + 1)
    for column, item in zip(columns, comparison.runs):
        column.metric(f"{item.name} mean MSE", f"{item.mean_mse:.2e}", help=f"{len(item.velocities)} velocity "
                      f"copies, {item.seconds * 1000:.0f} ms on {item.device}.")
    columns[-1].metric("copy last frame", f"{comparison.baseline_mean_mse:.2e}", help="Baseline: repeat the input.")


def show_comparison(comparison: showcase.Comparison) -> None:
    st.plotly_chart(viz.comparison_animation(comparison), key="animation", **CHART)
    st.plotly_chart(viz.mse_figure(comparison), key="mse", **CHART)
    left, right = st.columns(2)
    left.download_button("⬇ GIF", data=lambda: viz.comparison_gif(comparison), file_name="fernn-comparison.gif",
                         mime="image/gif", key="gif")
    right.download_button("⬇ Raw arrays (.npz)", data=lambda: showcase.comparison_npz(comparison),
                          file_name="fernn-comparison.npz", mime="application/octet-stream", key="npz")


def show_inside(comparison: showcase.Comparison) -> None:
    channels = st.multiselect("Hidden channels", list(range(min(r.hidden_channels for r in comparison.runs))),
                              default=list(range(min(4, *(r.hidden_channels for r in comparison.runs)))),
                              key="channels", bind=BIND, max_selections=8)
    left, right = st.columns(2)
    view = left.radio("FERNN state", ("pooled", "copy"), key="view", bind=BIND, horizontal=True,
                      help="pooled: max over the velocity copies. copy: the copy read out as the input's velocity.")
    stabilised = right.toggle("Motion-stabilised", value=True, key="stabilised", bind=BIND,
                              help="Roll every map back by the first digit's motion so far.")
    drift = " · ".join(f"{r.name} **{r.hidden.drift:.2f}**" for r in comparison.runs)
    st.markdown(f"State drift of the copy moving with digit 1 (0 = it moves exactly with the digit): {drift}",
                help="Mean over the context frames of ‖its motion-stabilised state − the state of the same scene "
                     "seen from the digit's moving frame‖ ÷ ‖that state‖. A FERNN copy whose velocity is the "
                     "digit's gives 0 (flow equivariance); a G-RNN, or a velocity outside the set, drifts by O(1).")
    if channels:
        st.plotly_chart(viz.hidden_animation(comparison, channels, stabilised=stabilised, view=view), key="hidden",
                        **CHART)
    for item in (r for r in comparison.runs if len(r.velocities) > 1):
        outside = [v for v in comparison.digit_velocities if v not in item.velocities]
        st.markdown(f"**{item.name} velocity read-out:** {item.ranking[0]} (most active copy over the context); "
                    f"true: {', '.join(map(str, comparison.digit_velocities))}.")
        if outside:
            st.warning(f"{', '.join(map(str, outside))} is outside this run's velocity set: no copy moves with it. "
                       "Choose 'auto' or a wider r under 3 · Models.")


def show_generalisation(models: dict[str, fernn.Forecaster]) -> None:
    records = {name: showcase.record(model) for name, model in models.items()}
    panels = {}  # title -> (grid, radius of the set the model ran with, or None for a G-RNN)
    for name, record in records.items():
        fernn_set = showcase.set_radius(models[name].velocities) if models[name].config.kind == "fernn" else None
        if record.velocity_grid is not None:
            panels[name] = (record.velocity_grid, fernn_set)
        if record.widened_velocity_grid is not None and record.widened_max_speed:
            r = record.widened_max_speed
            panels[f"{name}, V = {{−{r}…{r}}}²"] = (record.widened_velocity_grid, r)
    if not panels:
        st.info("No loaded checkpoint records a velocity grid (run `python -m fernn.evaluate --write-metrics`).")
        return
    trained = max((r.training_max_speed for r in records.values() if r.training_max_speed is not None), default=1)
    st.markdown(f"Held-out test MSE when both digits move at one fixed velocity (dy, dx). Dashed box: the training "
                f"range |v| ≤ {trained}; solid green box: the velocity set the FERNN ran with.")
    grids = {title: {"speeds": list(grid.speeds), "mse": grid.mse} for title, (grid, _) in panels.items()}
    st.plotly_chart(viz.velocity_grid_figure(grids, training_speed=trained, model_speeds={
        title: radius for title, (_, radius) in panels.items()}), key="grid", **CHART)


def share_link() -> None:
    url = st.context.url or ""
    query = urlencode({key: st.query_params.get_all(key) for key in st.query_params}, doseq=True)
    st.caption("Link to this view (the copy button is at its right):")
    st.code(f"{url.split('?')[0]}?{query}" if query else url, language=None, wrap_lines=True)


def main() -> None:
    st.set_page_config(page_title="FERNN vs G-RNN", page_icon="🌀", layout="wide")
    try:
        serving.settings_from_environment(os.environ)
    except ValueError as error:
        st.error(f"This server is misconfigured: {error}.")
        return
    fernn.devices.set_threads_from_environment("FERNN_TORCH_THREADS", default=1)
    if "link_checked" not in st.session_state:
        check_link()
    st.title("FERNN vs G-RNN: digits faster than any in training")
    st.caption("A G-RNN (conv RNN) against a FERNN with the same weights' shapes, from [Keller, *Flow Equivariant "
               f"Recurrent Neural Networks*, NeurIPS 2025]({showcase.PAPER_URL}). Set digits and speeds in the sidebar.")
    top = st.empty()  # progress, queue and errors: where the eye is
    if st.session_state["link_notes"]:
        st.sidebar.info("\n\n".join(st.session_state["link_notes"]))
    input_box, motion_box, settings_box = st.sidebar.container(), st.sidebar.container(), st.sidebar.container()
    with input_box:
        chosen, problem, severity = sidebar_input()
    with settings_box:
        settings = sidebar_settings()
    models, versions = load_models(settings.paths)
    speeds = [showcase.training_max_speed(m) for m in models.values()]
    with motion_box:  # drawn second, shown second: it needs the models' training range
        digits = sidebar_motion(chosen, max((s for s in speeds if s is not None), default=None))
    with st.sidebar:
        share_link()
    comparison_tab, inside_tab, grid_tab, about_tab = st.tabs(TABS, key="tab", bind=BIND)
    about_tab.markdown(Path(__file__).with_name("docs").joinpath("app-explanation.md").read_text())
    with grid_tab:
        show_generalisation(models)
    if problem or not models:
        getattr(top, severity if problem else "info")(problem or "Choose checkpoints under 3 · Models.")
        return
    comparison = run(models, versions, tuple(digits), settings, top)
    if comparison is None:
        return
    with top.container():
        show_message(comparison)
    with comparison_tab:
        show_comparison(comparison)
    with inside_tab:
        show_inside(comparison)


if __name__ == "__main__":
    main()
