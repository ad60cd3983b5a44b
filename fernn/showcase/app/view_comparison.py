"""The comparison: run (or say why not) at the top of the page with its headline and metrics; the
Comparison tab's animation, error curve and downloads; and "Evaluate these settings" below them
(many held-out sequences and a live velocity grid, on demand).

The runs are :func:`fernn.showcase.compare` and :mod:`fernn.showcase.study`, from the server's
shared cache or computed in one of its run slots.
"""

from __future__ import annotations

import time

import streamlit as st

import fernn.showcase as showcase
from fernn.flows import Flow
from fernn.models import Forecaster
from fernn.showcase import serving, study, visitor_checkpoints, viz
from fernn.showcase.app import resources
from fernn.showcase.app.shared import ANIMATION_HEIGHT, CHART, WAITING


def run(top, models: dict, versions: tuple, digits: list[showcase.Digit], settings: visitor_checkpoints.RunSettings,
        *, flow: Flow, problem: str, severity: str) -> showcase.Comparison | None:
    """The comparison with its headline and metrics in ``top``; or, there, why none runs: models of
    another flow than the digits', no digit yet, no models, or the run's own error."""
    mismatch = next((f"**{name}** is a {model.flow.name} model and the digits move by {flow.name}: choose "
                     f"{flow.name} models under 3 · Models, or change the motion."
                     for name, model in models.items() if model.flow != flow), "")
    if mismatch:
        top.error(mismatch)
    elif problem or not models:
        getattr(top, severity if problem else "info")(problem or "Choose checkpoints under 3 · Models.")
    elif (comparison := _compare(models, versions, tuple(digits), settings, top)) is not None:
        with top.container():
            show_message(comparison)
            for note in showcase.frames_notes(models, context_frames=settings.context_frames,
                                              predict_frames=settings.predict_frames):
                st.caption(f"⚠ {note}")
        return comparison
    return None


def _compare(models: dict, versions: tuple, digits: tuple[showcase.Digit, ...],
             settings: visitor_checkpoints.RunSettings, top) -> showcase.Comparison | None:
    """The comparison, from the shared cache or computed with progress at the top of the page."""
    key = serving.comparison_key(versions, digits, settings.velocities, settings.context_frames,
                                 settings.predict_frames)
    started = time.perf_counter()

    def progress(fraction: float, text: str) -> None:
        if time.perf_counter() - started > 0.5:
            top.progress(min(fraction, 1.0), text=f"Running the models… {text}")

    try:
        comparison = serving.run_cached(*resources.server(), key, lambda: showcase.compare(
            models, digits, context_frames=settings.context_frames, predict_frames=settings.predict_frames,
            velocities=settings.velocities, progress=progress), on_wait=lambda: top.info(WAITING))
    except (ValueError, RuntimeError, MemoryError) as error:  # DemoError is a ValueError
        top.error(f"Cannot run this comparison: {error}")
        return None
    top.empty()
    return comparison


def show_message(comparison: showcase.Comparison) -> None:
    """The headline, and each model's mean MSE beside the copy-last-frame baseline."""
    st.markdown(showcase.headline(comparison))
    with st.container(horizontal=True):  # side by side while they fit: a phone stacks columns
        for item in comparison.runs:
            st.metric(f"{item.name} mean MSE", f"{item.mean_mse:.2e}", help=f"{len(item.velocities)} velocity "
                      f"copies, {item.seconds * 1000:.0f} ms on {item.device}.", width="content")
        st.metric("copy last frame", f"{comparison.baseline_mean_mse:.2e}", help="Baseline: repeat the input.",
                  width="content")


def show(comparison: showcase.Comparison, models: dict[str, Forecaster], versions: tuple,
         settings: visitor_checkpoints.RunSettings) -> None:
    """The Comparison tab: the animation, the error per frame, downloads, "Evaluate these settings"."""
    st.plotly_chart(viz.comparison_animation(comparison, height=ANIMATION_HEIGHT), key="animation", **CHART)
    st.plotly_chart(viz.mse_figure(comparison), key="mse", **CHART)
    left, right = st.columns(2)
    left.download_button("⬇ GIF", data=lambda: viz.comparison_gif(comparison), file_name="fernn-comparison.gif",
                         mime="image/gif", key="gif")
    right.download_button("⬇ Raw arrays (.npz)", data=lambda: showcase.comparison_npz(comparison),
                          file_name="fernn-comparison.npz", mime="application/octet-stream", key="npz")
    evaluate_settings(models, versions, comparison, settings.velocities, settings.seed)


def evaluate_settings(models: dict[str, Forecaster], versions: tuple, comparison: showcase.Comparison,
                      velocities: str | int, seed: int) -> None:
    """"Evaluate these settings": on demand, the comparison's settings over N held-out sequences
    (mean MSE and 95% interval per model) and a live velocity grid, each from the shared cache or
    computed in a run slot, bounded by :mod:`fernn.showcase.study`.

    Not a fragment: a fragment keeps its arguments (this comparison) until the next full run, past
    the byte-bounded cache's eviction, and the full rerun it would save reads every result from the cache."""
    cache, slots = resources.server()
    flow, moving = comparison.flow, comparison.digit_velocities
    shared = moving[0] if len(set(moving)) == 1 else None  # else each digit draws its own velocity up to the fastest
    fastest = max(flow.speed(v) for v in moving)
    st.subheader("Evaluate these settings")
    st.caption("The same models, velocity set and frame counts over many held-out test digits instead of one "
               "scene; digits move " + ("at the digit's velocity" if shared is not None else
                                       f"at their own velocities up to speed {fastest}") + ".")
    left, middle, right = st.columns(3)
    sequences = left.number_input("Held-out sequences", 1, study.MAX_SEQUENCES, 20, key="study_sequences")
    grid = middle.selectbox("Live grid up to speed", ("off", *map(str, range(1, study.MAX_GRID_SPEED + 1))), 2,
                            key="study_grid", help="Every digit at one velocity per cell, as the Velocities tab's "
                                                   "recorded grids; cost grows with (2r + 1)² cells.")
    per_cell = right.number_input("Sequences per cell", 1, study.MAX_GRID_SEQUENCES, 2, key="study_cell")
    key = ("study", versions, velocities, comparison.context_frames, comparison.predict_frames, len(moving), shared,
           fastest, int(sequences), grid, int(per_cell), int(seed))
    if st.button("Evaluate these settings", key="study_run", type="primary"):
        bar = st.progress(0.0, text="Evaluating…")

        def progress(part: str, start: float, share: float):
            return lambda fraction, text: bar.progress(min(start + share * fraction, 1.0),
                                                       text=f"Evaluating ({part})… {text}")

        common = dict(context_frames=comparison.context_frames, predict_frames=comparison.predict_frames,
                      velocities=velocities, seed=int(seed))
        share = 0.5 if grid != "off" else 1.0
        try:
            held_out = serving.run_cached(cache, slots, key + ("sequences",), lambda: showcase.held_out_study(
                models, sequences=int(sequences), digit_velocities=moving, num_digits=len(moving), velocity=shared,
                max_speed=fastest, progress=progress("held-out sequences", 0.0, share), **common),
                on_wait=lambda: bar.progress(0.0, text=WAITING))
            grids = None if grid == "off" else serving.run_cached(cache, slots, key + ("grid",), lambda: (
                showcase.live_grids(models, radius=int(grid), sequences=int(per_cell), num_digits=len(moving),
                                    progress=progress("live grid", share, 1 - share), **common)),
                on_wait=lambda: bar.progress(share, text=WAITING))
        except (ValueError, RuntimeError, MemoryError) as error:  # DemoError is a ValueError
            bar.empty()
            st.error(f"Cannot evaluate these settings: {error}")
            return
        bar.empty()
        st.session_state["study_result"] = (key, held_out, grids)
    found = st.session_state.get("study_result")
    if found is None:
        return
    if found[0] != key:
        st.caption("The settings have changed since the last evaluation: press the button for these.")
        return
    _show_study(found[1], found[2], comparison)


def _show_study(held_out: showcase.HeldOutStudy, grids: showcase.LiveGrids | None,
                comparison: showcase.Comparison) -> None:
    st.markdown(f"Over **{held_out.sequences} held-out sequences** ({held_out.motion}; "
                f"{held_out.context_frames} → {held_out.predict_frames} frames), 95% intervals by the normal "
                "approximation over sequences:")
    lines = ["| Model | mean MSE | 95% interval | copies |", "|---|---|---|---|"]
    for score in held_out.scores:
        interval = f"{score.low:.2e} … {score.high:.2e}" if score.low is not None else "one sequence: none"
        lines.append(f"| {score.name} | {score.mean_mse:.2e} | {interval} | {score.copies} |")
    lines.append(f"| copy last frame | {held_out.baseline_mse:.2e} | | |")
    st.markdown("\n".join(lines))
    if grids is not None:
        st.markdown(f"Live velocity grid: every digit at one velocity per cell, {grids.sequences} held-out "
                    f"sequence{'s' if grids.sequences > 1 else ''} per cell. Dashed box: the training range; solid "
                    "green box: the velocity set each FERNN ran with.")
        figures = viz.velocity_grid_figures({name: grid for name, (grid, _) in grids.grids.items()},
                                            flow=comparison.flow, training_speed=comparison.training_max_speed or 1,
                                            model_speeds={name: radius for name, (_, radius) in grids.grids.items()})
        for index, (column, figure) in enumerate(zip(st.columns(len(figures)), figures)):  # stacked on a phone
            column.plotly_chart(figure, key=f"study_grid_figure{index}", **CHART)
