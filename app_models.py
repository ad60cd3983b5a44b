"""The demo's models, beyond the shipped pair (Streamlit widgets, used by ``app.py``): up to three
model slots, the visitor's own checkpoints (uploaded, read in memory, kept in their session only),
a card per loaded model, and "Evaluate these settings" (many held-out sequences, a live grid).

Widgets only: reading an upload safely lives in :mod:`fernn.showcase.serving`, the cards and the study in
:mod:`fernn.showcase`, the figures in :mod:`fernn.showcase.viz`.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import streamlit as st

from fernn.showcase import owndigit, serving, visitor_checkpoints, viz
from fernn import showcase
from fernn.models import Forecaster
from fernn.showcase import study
from fernn.showcase.viz.cards import validation_curve_figure

BIND = "query-params"
CHART = dict(config={"displaylogo": False, "responsive": True})
NONE = "(none)"
# (widget key, label): the paper compares three models (G-RNN, FERNN-V1, FERNN-V2); the third is optional.
SLOTS = (("model_a", "Model 1"), ("model_b", "Model 2"), ("model_c", "Model 3 (optional)"))
MAX_OWN = 3  # own checkpoints a session holds at once
OWN = "⬆ "  # marks a visitor's own checkpoint in the model lists
WAITING = "⏳ Waiting for a free slot: other visitors' runs are ahead."


def _session_token() -> str:
    """This session's random token: in every cache key made with its own checkpoints."""
    if "session_token" not in st.session_state:
        st.session_state["session_token"] = secrets.token_hex(16)
    return st.session_state["session_token"]


def _own_checkpoints(slots: serving.RunSlots) -> tuple[dict[str, visitor_checkpoints.UploadedCheckpoint], list[str], list[str]]:
    """The session's own checkpoints by list label, the problems to show, and the labels read in
    this run. Each uploaded file is read once (by its upload id) and forgotten when it is removed."""
    files = list(st.session_state.get("model_upload") or [])
    read = st.session_state.setdefault("own_checkpoints", {})  # upload id -> UploadedCheckpoint or its problem
    current = {upload.file_id: upload for upload in files[:MAX_OWN]}
    for gone in set(read) - set(current):
        del read[gone]
    fresh = []
    for file_id, upload in current.items():
        if file_id in read:
            continue
        name = Path(upload.name).name
        try:
            visitor_checkpoints.check_checkpoint_upload(upload.size)  # before a byte is read
            with slots.hold(on_wait=lambda: st.info(WAITING), timeout=owndigit.UPLOAD_WAIT_SECONDS):
                read[file_id] = visitor_checkpoints.checkpoint_from_upload(upload.getvalue(), file_name=name,
                                                               session=_session_token())
            fresh.append(file_id)
        except showcase.DemoError as error:
            read[file_id] = f"Cannot use {name}: {error}."
    labels: dict[str, visitor_checkpoints.UploadedCheckpoint] = {}
    fresh_labels = []
    for file_id, item in read.items():
        if isinstance(item, visitor_checkpoints.UploadedCheckpoint):
            label = f"{OWN}{item.file_name}"
            label = label if label not in labels else f"{label} ({item.digest[:6]})"
            labels[label] = item
            if file_id in fresh:
                fresh_labels.append(label)
    problems = [item for item in read.values() if isinstance(item, str)]
    if len(files) > MAX_OWN:
        problems.append(f"At most {MAX_OWN} own checkpoints at once: {len(files) - MAX_OWN} left out.")
    return labels, problems, fresh_labels


def model_slots(folder: Path, files: list[str], *, slots: serving.RunSlots,
                defaults: tuple[str, str] = ("grnn.pt", "fernn.pt")) -> tuple[Path | visitor_checkpoints.UploadedCheckpoint, ...]:
    """Up to three chosen models in slot order: a shipped file's path (``folder / name``), or one of
    the visitor's own checkpoints (:class:`fernn.showcase.visitor_checkpoints.UploadedCheckpoint`). Slots 1 and 2 open on
    ``defaults`` where those files are there; slot 3 on none."""
    own, problems, fresh = _own_checkpoints(slots)
    options = [*files, *own]
    choices = {key: options if key == "model_a" else [NONE, *options] for key, _ in SLOTS}
    wanted = dict(zip(("model_a", "model_b", "model_c"), (*defaults, NONE)))
    for key, allowed in choices.items():  # a removed upload leaves its slot: back to the default
        if key in st.session_state and st.session_state[key] not in allowed:
            st.session_state[key] = wanted[key] if wanted[key] in allowed else allowed[0] if allowed else None
    if fresh and st.session_state.get("model_c", NONE) == NONE:  # a new upload goes where nothing is
        st.session_state["model_c"] = fresh[0]
    chosen = []
    for key, label in SLOTS:
        allowed = choices[key]
        if not options:
            continue
        # A default only for a widget the session has not set: a widget must not get both.
        index = {} if key in st.session_state else {
            "index": allowed.index(wanted[key]) if wanted[key] in allowed else 0}
        value = st.selectbox(label, allowed, key=key, bind=BIND, **index)
        if value != NONE:
            chosen.append(own[value] if value in own else folder / value)
    st.file_uploader(f"Your own checkpoints (.pt from `python -m fernn.train --export`; up to {MAX_OWN}, "
                     f"{visitor_checkpoints.MAX_CHECKPOINT_BYTES // 1024**2} MB each)", type=["pt"], accept_multiple_files=True,
                     key="model_upload", max_upload_size=visitor_checkpoints.MAX_CHECKPOINT_BYTES // 1024**2,
                     help="Read in memory with weights_only=True and kept in this session only (never on the "
                          f"server's disk); they join the lists above as {OWN}name. Links cannot carry them.")
    for problem in problems:
        st.error(problem)
    st.caption("Each loaded model's card (training, held-out numbers, the paper's) is in the About tab.")
    return tuple(chosen)


def model_cards(models: dict[str, Forecaster]) -> None:
    """One expander per loaded model: its card and its validation curve."""
    if not models:
        return
    st.subheader("Model cards")
    for index, (name, model) in enumerate(models.items()):
        card = showcase.model_card(name, model)
        with st.expander(f"**{name}**: {card.kind}, {card.parameters:,} parameters, {card.copies} "
                         f"cop{'y' if card.copies == 1 else 'ies'}", expanded=len(models) == 1):
            st.markdown("\n".join(f"- **{label}:** {value}" for label, value in card.rows()))
            if card.curve_steps:
                st.plotly_chart(validation_curve_figure(card.curve_steps, card.curve_mse, name=name,
                                                        color_index=index), key=f"card_curve_{index}", **CHART)


def evaluate_settings(models: dict[str, Forecaster], versions: tuple, comparison: showcase.Comparison,
                      velocities: str | int, seed: int, *, cache: serving.ComparisonCache,
                      slots: serving.RunSlots) -> None:
    """"Evaluate these settings": on demand, the comparison's settings over N held-out sequences
    (mean MSE and 95% interval per model) and a live velocity grid, each from the shared cache or
    computed in a run slot, bounded by :mod:`fernn.showcase.study`."""
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
