"""Streamlit demo of fernn: push digits past the training velocities, compare G-RNN and FERNN.

Run with ``streamlit run app.py``. UI only: every computation lives in :mod:`fernn.showcase` and
every figure in :mod:`fernn.showcase.viz`; the drawing and upload widgets are in ``app_own_digit.py``.
Checkpoints come from ``pretrained/`` or the folder named by ``FERNN_CHECKPOINT_DIR`` (classifiers
from its ``classify/``), through :func:`fernn.load_checkpoint` (``weights_only=True``). Widgets
with ``bind`` are mirrored in the URL, and a drawn or uploaded digit travels in it too
(``d1``), so a link reproduces the view.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import streamlit as st

import app_models
import fernn
from fernn import paper
from app_own_digit import own_digit
from fernn.showcase import links, serving, visitor_checkpoints, viz
from fernn import showcase
from fernn.flows import TRANSLATION, Flow, Rotation
from fernn.datasets.digits import load_digits

CHECKPOINT_DIR = Path(os.environ.get("FERNN_CHECKPOINT_DIR") or Path(__file__).resolve().parent / "pretrained")
CLASSIFY_DIR = CHECKPOINT_DIR / "classify"  # the shipped classifiers, showcase.CLASSIFIER_FILES
MAX_DIGIT_SPEED = 4  # per-digit velocity sliders: -4..4 px/frame on each axis, or -4..4 rotation steps
# The motions a visitor can push digits with, and the checkpoint pair each opens with.
MOTIONS = ("Translate", "Rotate")
DEFAULT_PAIRS = {"Translate": ("grnn.pt", "fernn.pt"), "Rotate": ("rotation/grnn.pt", "rotation/fernn.pt")}
ROTATION = Rotation(order=12)  # the shipped rotation models' group (30-degree steps): the link's angle grid
ANGULAR_VELOCITIES = tuple(str(round(k * ROTATION.step_degrees)) for k in range(-MAX_DIGIT_SPEED, MAX_DIGIT_SPEED + 1))
START_ANGLES = tuple(str(round(k * ROTATION.step_degrees)) for k in range(ROTATION.order))
BIND = "query-params"
CHART = dict(config={"displayModeBar": False, "responsive": True})  # plotly's toolbar would cover the titles
TABS = ("Comparison", "Inside", "Velocities", "Classify", "About")  # short: all five fit a 420 px phone
RENAMED_TABS = {"Inside the models": "Inside", "Velocity generalisation": "Velocities", "What am I looking at?": "About"}
WAITING = "⏳ Waiting for a free slot: other visitors' runs are ahead."
VELOCITY_CHOICES = (showcase.AUTO, showcase.AS_TRAINED, *map(str, range(showcase.MAX_SET_SPEED + 1)))


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=8)
def load_model(path: str, modified: float, size: int) -> fernn.Forecaster:
    return fernn.load_checkpoint(path, fernn.resolve_device("auto"))


@st.cache_resource
def server() -> tuple[serving.ComparisonCache, serving.RunSlots]:
    """Shared by every session: comparisons bounded by bytes, and the heavy-run queue."""
    config = serving.settings_from_environment(os.environ)  # main() has shown any problem with it
    return serving.ComparisonCache(config.cache_megabytes * 1024**2), serving.RunSlots(config.run_slots)


@st.cache_data(show_spinner=False)
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits("test")


def _random_digits() -> None:
    draws = st.session_state["random_draws"] = st.session_state.get("random_draws", 0) + 1
    rng = np.random.default_rng([int(st.session_state.get("seed", 0)), draws])
    st.session_state["digit1"], st.session_state["digit2"] = map(int, rng.integers(0, len(test_digits()[0]), size=2))


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
        digit, problem = own_digit(source, slots=server()[1])
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
    fields = links.demo_link_fields(test_digits=len(test_digits()[0]),
                                      checkpoints=checkpoint_files(),
                                      velocity_choices=VELOCITY_CHOICES, tabs=TABS, renamed_tabs=RENAMED_TABS,
                                      max_digit_speed=MAX_DIGIT_SPEED, motions=MOTIONS,
                                      angular_velocities=ANGULAR_VELOCITIES, start_angles=START_ANGLES)
    found = links.check_link({key: st.query_params.get_all(key) for key in st.query_params}, fields)
    st.session_state["link_checked"], st.session_state["link_notes"] = True, found.notes
    if found.changed:
        st.query_params.from_dict(found.params)
        st.rerun()  # the widgets read the URL the run starts with


def checkpoint_files() -> list[str]:
    """The forecasters a visitor can pick: ``CHECKPOINT_DIR``'s files and its subfolders' (the
    classifiers' folder is the Classify view's)."""
    return visitor_checkpoints.checkpoint_files(CHECKPOINT_DIR, skip=(CLASSIFY_DIR.name, "resume"))


def _open_motion_pair() -> None:
    """On a change of motion: open that motion's shipped pair where both files are there."""
    pair, files = DEFAULT_PAIRS[st.session_state["motion"]], checkpoint_files()
    if all(name in files for name in pair):
        st.session_state["model_a"], st.session_state["model_b"] = pair


def sidebar_motion_kind() -> str:
    st.header("2 · Motion")
    return st.radio("Motion", MOTIONS, key="motion", bind=BIND, horizontal=True, on_change=_open_motion_pair,
                    help="Translate: digits slide across the canvas (it wraps). Rotate: digits turn about its centre.")


def sidebar_motion(chosen: list[tuple[np.ndarray, str] | None], training_speed: int | None,
                   flow: Flow) -> list[showcase.Digit]:
    """Each slot's velocity and start (sliders even for a slot still waiting for its digit), in
    ``flow``'s terms: ``(dy, dx)`` pixels per frame, or degrees per frame in whole rotation steps."""
    if flow != TRANSLATION:
        return _rotation_motion(chosen, training_speed, flow)
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


def _rotation_motion(chosen: list[tuple[np.ndarray, str] | None], training_speed: int | None,
                     flow: Flow) -> list[showcase.Digit]:
    step = flow.step_degrees
    trained = f"±{training_speed * step:g}°" if training_speed is not None else "not recorded"
    st.caption(f"°/frame, counter-clockwise positive, in steps of {step:g}°; **training range {trained}**. "
               "Digits turn about the centre and overlap, as in Rotating MNIST.")
    speeds = [round(k * step) for k in range(-MAX_DIGIT_SPEED, MAX_DIGIT_SPEED + 1)]
    angles = [round(k * step) for k in range(flow.order)]
    defaults, digits = (2, -1), []
    for slot, item in enumerate(chosen, start=1):
        degrees = st.select_slider(f"ω digit {slot} (°/frame)", speeds, round(defaults[slot - 1] * step),
                                   key=f"w{slot}", bind=BIND)
        velocity = round(degrees / step)
        if training_speed is not None and flow.speed(velocity) > training_speed:
            st.markdown(f":orange[⚠ {flow.rate(velocity)} is **beyond the training range**]")
        with st.expander(f"Start angle of digit {slot}"):
            start = st.select_slider("start angle (°)", angles, 0, key=f"a{slot}", bind=BIND)
        if item is not None:
            digits.append(showcase.Digit(item[0], velocity, round(start / step), item[1], flow))
    return digits


def sidebar_settings(motion: str) -> visitor_checkpoints.RunSettings:
    st.header("3 · Models")
    files = checkpoint_files()
    if not files:
        st.error(f"No .pt checkpoints in the folder `{CHECKPOINT_DIR.name}`: train with `python -m fernn.train` or "
                 "point `FERNN_CHECKPOINT_DIR` at a folder of checkpoints.")
    # Shipped files and the visitor's own; the motion's pair by default (a change of motion sets the
    # pair through the session state, _open_motion_pair).
    paths = app_models.model_slots(CHECKPOINT_DIR, files, slots=server()[1], defaults=DEFAULT_PAIRS[motion])
    choice = st.selectbox("FERNN velocity set at inference: auto, as trained, or r", VELOCITY_CHOICES, key="vset",
                          bind=BIND, help="One hidden copy per velocity; the weights are shared, so any set runs. A "
                          "FERNN tracks a velocity only if it is in the set: 'auto' widens it to cover the digits.")
    st.caption(showcase.describe_velocity_choice(choice))
    st.header("4 · Run")
    context = st.slider("Context frames (the models read these)", 1, 20, 10, key="context", bind=BIND)
    predict = st.slider("Predicted frames", 1, 70, 10, key="predict", bind=BIND, help="Training used 10 to 20.")
    seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="seed", bind=BIND, help="For random digits and live grids.")
    return visitor_checkpoints.RunSettings(paths, showcase.velocity_choice(choice), int(context), int(predict), int(seed))


def load_models(paths: tuple[Path, ...], names: dict[str, str] | None = None) -> tuple[dict, tuple]:
    """The chosen checkpoints by display name (``names[file name]`` where given), and a key naming
    the files' versions; a specific error for each that cannot be used."""
    models, versions = {}, []
    for item in visitor_checkpoints.open_checkpoints(paths, load_model):
        if item.problem:
            st.error(f"Checkpoint `{item.path.name}` cannot be used: {item.problem}")
            continue
        name = names[item.path.name] if names else item.name
        if not item.evaluated:
            st.warning(f"**{name}** (`{item.path.name}`) has no recorded evaluation: treat it as untrained.")
        models[name] = item.model
        versions.append(item.version)
    return models, tuple(versions)


def run(models: dict, versions: tuple, digits: tuple[showcase.Digit, ...], settings: visitor_checkpoints.RunSettings,
        top) -> showcase.Comparison | None:
    """The comparison, from the shared cache or computed with progress at the top of the page."""
    key = (versions, tuple((d.image.tobytes(), d.velocity, d.start)
           for d in digits), settings.velocities, settings.context_frames, settings.predict_frames)
    started = time.perf_counter()

    def progress(fraction: float, text: str) -> None:
        if time.perf_counter() - started > 0.5:
            top.progress(min(fraction, 1.0), text=f"Running the models… {text}")

    try:
        comparison = serving.run_cached(*server(), key, lambda: showcase.compare(
            models, digits, context_frames=settings.context_frames, predict_frames=settings.predict_frames,
            velocities=settings.velocities, progress=progress), on_wait=lambda: top.info(WAITING))
    except (ValueError, RuntimeError, MemoryError) as error:  # DemoError is a ValueError
        top.error(f"Cannot run this comparison: {error}")
        return None
    top.empty()
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
    if note := comparison.flow.describe_channels(channels):  # a state with a group axis: which field, which angle
        st.caption(note)
    left, right = st.columns(2)
    view = left.radio("FERNN state", ("pooled", "copy"), key="view", bind=BIND, horizontal=True,
                      help="pooled: max over the velocity copies. copy: the copy read out as the input's velocity.")
    stabilised = right.toggle("Motion-stabilised", value=True, key="stabilised", bind=BIND,
                              help="Move every map back by the first digit's motion so far (for rotation: turn it back).")
    st.markdown("State drift of the copy moving with digit 1 (0 = it moves exactly with the digit): "
                + showcase.drift_summary(comparison),
                help="Mean over the context frames of ‖its motion-stabilised state − the state of the same scene "
                     "seen from the digit's moving frame‖ ÷ ‖that state‖. A FERNN copy whose velocity is the "
                     "digit's gives 0 (flow equivariance); a G-RNN, or a velocity outside the set, drifts by O(1).")
    if channels:
        st.plotly_chart(viz.hidden_animation(comparison, channels, stabilised=stabilised, view=view), key="hidden",
                        **CHART)
    for note, warning in showcase.readout_notes(comparison):
        (st.warning if warning else st.markdown)(note)


def show_generalisation(models: dict[str, fernn.Forecaster], flow: Flow) -> None:
    panels = showcase.recorded_grids(models)  # title -> (grid, radius of the set it ran with; None: a G-RNN)
    if not panels:
        st.info("No loaded checkpoint records a velocity grid (run `python -m fernn.evaluate --write-metrics`).")
        return
    trained = showcase.shared_training_speed(models) or 1
    what = "one fixed velocity (dy, dx)" if flow == TRANSLATION else "one fixed angular velocity ω"
    st.markdown(f"Held-out test MSE when both digits move at {what}. Dashed box: the training range "
                f"{flow.range_text(trained)}; solid green box: the velocity set the FERNN ran with.")
    figures = viz.velocity_grid_figures({title: grid for title, (grid, _) in panels.items()}, flow=flow,
                                        training_speed=trained,
                                        model_speeds={title: radius for title, (_, radius) in panels.items()})
    for index, (column, figure) in enumerate(zip(st.columns(len(figures)), figures)):  # stacked on a phone
        column.plotly_chart(figure, key=f"grid{index}", **CHART)


def show_classify(models: dict, versions: tuple, digit: showcase.Digit | None, problem: str, severity: str, *,
                  shipped: bool) -> None:
    if not models:  # none shipped yet (said plainly), or each file's problem is shown above the tabs
        if not shipped:
            st.info(showcase.classifiers_missing(f"{CHECKPOINT_DIR.name}/{CLASSIFY_DIR.name}"))
        return
    left, middle, right = st.columns([3, 3, 2], vertical_alignment="bottom")
    choice = left.selectbox("FERNN velocity set", VELOCITY_CHOICES, key="cvset", bind=BIND,
                            help="'as trained' keeps the classifier's own set; 'auto' widens it to the digit's speed "
                                 "(a peak-pooled FERNN: one trained radius beyond, so its window is whole).")
    seed = middle.number_input("Flicker seed", 0, 2**31 - 1, key="flicker", bind=BIND,
                               help="Which pixels each frame shows; the link keeps it.")
    right.button("New flicker", key="new_flicker", on_click=lambda: st.session_state.update(
        flicker=(int(st.session_state.get("flicker", 0)) + 1) % 2**31))
    peak = choice == showcase.AUTO and any(showcase.peak_pooled(model) for model in models.values())
    reach = " A peak-pooled FERNN reaches one trained radius further, so its window around the digit is whole." if peak else ""
    st.caption(f"{showcase.describe_velocity_choice(choice)}{reach} Digit 1 of the sidebar, at its velocity.")
    if problem or digit is None:
        getattr(st, severity)(problem or "Choose a digit in the sidebar.")
        return
    labels, index = test_digits()[1], st.session_state.get("digit1")
    truth = int(labels[index]) if st.session_state.get("source") == "MNIST" and index is not None else None
    key = ("classify", versions, digit.image.tobytes(), digit.velocity, digit.start, seed, choice, truth)
    try:
        result = serving.run_cached(*server(), key, lambda: showcase.classify(
            models, showcase.flicker_scene(digit, seed=int(seed)), velocities=showcase.velocity_choice(choice),
            true_class=truth), on_wait=lambda: st.info(WAITING))
    except (ValueError, RuntimeError, MemoryError) as error:  # DemoError is a ValueError
        st.error(f"Cannot classify this digit: {error}")
        return
    st.markdown(showcase.classify_headline(result))
    with st.container(horizontal=True):  # side by side while they fit, even on a phone
        for run in result.runs:
            st.metric(f"{run.name} says", f"{run.answer}{result.mark(run)}", f"{run.confidence:.0%} sure", "gray",
                      delta_arrow="off", help=f"It reads {run.reading} ({run.seconds * 1000:.0f} ms).",
                      width="content")
    st.plotly_chart(viz.classification_animation(result), key="classify_animation", **CHART)
    if series := showcase.ring_series(models):
        st.markdown("Recorded held-out accuracy per speed (every test digit once per ring |v| = 0, 1, …).")
        st.plotly_chart(viz.ring_accuracy_figure(series, training_speed=result.training_max_speed,
                                                 digit_speed=result.flow.speed(digit.velocity)), key="rings", **CHART)


def motion_flow(motion: str, models: dict) -> Flow:
    """The flow the digits move by: translation, or for 'Rotate' the loaded rotation models'
    group (the shipped one when none is loaded)."""
    if motion == "Translate":
        return TRANSLATION
    return next((model.flow for model in models.values() if model.flow.name == "rotation"), ROTATION)


def share_link() -> None:
    st.caption("Link to this view (the copy button is at its right):")
    st.code(links.share_url(st.context.url or "", {key: st.query_params.get_all(key) for key in st.query_params}),
            language=None, wrap_lines=True)


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
               f"Recurrent Neural Networks*, NeurIPS 2025]({paper.URL}). Set digits and speeds in the sidebar.")
    top = st.empty()  # progress, queue and errors: where the eye is
    if st.session_state["link_notes"]:
        st.sidebar.info("\n\n".join(st.session_state["link_notes"]))
    input_box, motion_box, settings_box = st.sidebar.container(), st.sidebar.container(), st.sidebar.container()
    with motion_box:  # read first: the motion picks the default models
        motion = sidebar_motion_kind()
    link_box, alerts = st.sidebar.container(), st.container()  # alerts: checkpoint problems, above the tabs
    comparison_tab, inside_tab, grid_tab, classify_tab, about_tab = st.tabs(TABS, key="tab", bind=BIND)
    classifying = classify_tab.open is True and motion == "Translate"  # only the open tab's content runs
    with input_box:
        chosen, problem, severity = sidebar_input()
    with settings_box:
        settings = sidebar_settings(motion)
    classifiers = tuple(CLASSIFY_DIR / name for name in showcase.CLASSIFIER_FILES if (CLASSIFY_DIR / name).is_file())
    with alerts:
        models, versions = (load_models(classifiers, showcase.CLASSIFIER_FILES) if classifying
                            else load_models(settings.paths))
    flow = motion_flow(motion, models)
    with motion_box:  # drawn second, shown second: it needs the models' training range
        digits = sidebar_motion(chosen, showcase.shared_training_speed(models), flow)
    mismatch = next((f"**{name}** is a {model.flow.name} model and the digits move by {flow.name}: choose "
                     f"{flow.name} models under 3 · Models, or change the motion."
                     for name, model in models.items() if model.flow != flow), "")
    if motion != "Translate" and classify_tab.open is True:
        classify_tab.info("The shipped classifiers read translating digits: choose **Translate** under 2 · Motion.")
    elif classifying:
        with classify_tab:
            show_classify(models, versions, digits[0] if chosen[0] is not None else None, problem, severity,
                          shipped=bool(classifiers))
    else:  # only the open tab is drawn and sent: the hidden-state animation alone is megabytes
        if about_tab.open is not False:
            with about_tab:
                app_models.model_cards(models)
            about_tab.markdown(Path(__file__).with_name("docs").joinpath("app-explanation.md").read_text())
        if grid_tab.open is not False:
            with grid_tab:
                show_generalisation(models, flow)
        if mismatch:
            top.error(mismatch)
        elif problem or not models:
            getattr(top, severity if problem else "info")(problem or "Choose checkpoints under 3 · Models.")
        elif (comparison := run(models, versions, tuple(digits), settings, top)) is not None:
            with top.container():
                show_message(comparison)
            if comparison_tab.open is not False:
                with comparison_tab:
                    show_comparison(comparison)
                    app_models.evaluate_settings(models, versions, comparison, settings.velocities, settings.seed,
                                                 cache=server()[0], slots=server()[1])
            if inside_tab.open is not False:
                with inside_tab:
                    show_inside(comparison)
    with link_box:  # last: every widget of this run has written its value to the link
        share_link()


if __name__ == "__main__":
    main()
