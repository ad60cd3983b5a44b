"""The World motion's view: both world models on the visitor's scene, run at the top of the page with
its headline, and the Comparison tab's animation (the world with the window, the true view, each
model's predicted view and memory), error per frame and downloads. The runs are
:func:`fernn.showcase.world.compare_world`, from the server's shared cache or in one of its run slots."""

from __future__ import annotations

import numpy as np
import streamlit as st

import fernn.showcase.world as world
from fernn.checkpoints import find_model
from fernn.showcase import serving, viz
from fernn.showcase.app import resources
from fernn.showcase.app.shared import CHART, WAITING
from fernn.showcase.app.sidebar_world import WorldChoice

LABELS = {"grnn": "G-RNN", "fernn": "FERNN"}


def load_world_models() -> tuple[dict, tuple] | None:
    """The shipped world models by label (the FERNN first) and their files' versions, or ``None``
    while they are not there."""
    folder = resources.checkpoint_dir() / world.WORLD_FOLDER
    paths = {kind: find_model(folder, kind) for kind in ("fernn", "grnn")}
    if None in paths.values():
        return None
    models, versions = {}, []
    for kind, path in paths.items():
        files = [path] if path.is_file() else sorted(path.iterdir())
        version = (str(path), max(f.stat().st_mtime for f in files), sum(f.stat().st_size for f in files))
        models[LABELS[kind]] = resources.load_model(*version)
        versions.append(version)
    return models, tuple(versions)


def world_models() -> dict:
    """The shipped world models by label, for their cards; empty while they are not there."""
    found = load_world_models()
    return {} if found is None else found[0]


def run(top, choice: WorldChoice, problem: str, severity: str) -> world.WorldComparison | None:
    """The World comparison with its headline in ``top``, or there why none runs."""
    found = load_world_models()
    if found is None:
        top.info(world.world_models_missing(f"{resources.checkpoint_dir().name}/{world.WORLD_FOLDER}"))
        return None
    models, versions = found
    if problem or choice.problem or not choice.digits:
        getattr(top, severity if problem else "error" if choice.problem else "info")(
            problem or choice.problem or "Choose a digit under 1 · Input.")
        return None
    key = ("world", versions,
           tuple((d.image.tobytes(), d.velocity, d.start) for d in choice.digits), choice.path, choice.moves)
    try:
        result = serving.run_cached(*resources.server(), key, lambda: world.compare_world(
            models, list(choice.digits), list(choice.moves), path=choice.path), on_wait=lambda: top.info(WAITING))
    except (ValueError, RuntimeError, MemoryError) as error:
        top.error(f"Cannot run this world: {error}")
        return None
    with top.container():
        st.markdown(world.world_headline(result))
        with st.container(horizontal=True):  # side by side while they fit: a phone stacks columns
            for item in result.runs:
                st.metric(f"{item.name} mean MSE", f"{float(item.mse.mean()):.2e}", width="content",
                          help=f"over {result.predict_frames} predicted views, {item.seconds * 1000:.0f} ms")
    return result


def show(result: world.WorldComparison) -> None:
    """The Comparison tab for World: the animation, the error per frame, what the memories are, downloads."""
    st.plotly_chart(viz.world_animation(result), key="world_animation", **CHART)
    frames = np.arange(result.context_frames, result.num_frames)
    chart = {item.name: item.mse for item in result.runs}
    st.line_chart(dict(chart, frame=frames), x="frame", y=list(chart), x_label="frame", y_label="MSE of the view",
                  height=240)
    for item in result.runs:
        if item.memory is None:
            st.caption(f"**{item.name} memory:** none to show: {item.memory_note}.")
        else:
            st.caption(f"**{item.name} memory:** its state decoded over the whole world, moved to world coordinates.")
    left, right = st.columns(2)
    left.download_button("⬇ GIF", data=lambda: viz.world_gif(result), file_name="fernn-world.gif", mime="image/gif",
                         key="world_gif")
    right.download_button("⬇ Raw arrays (.npz)", data=lambda: world.world_npz(result), file_name="fernn-world.npz",
                          mime="application/octet-stream", key="world_npz")
