"""A fresh server warms itself before its first visitor: the shipped pair loaded, the MNIST test
digits read and the first visit's comparison in the server's cache, so that visitor pays for none
of it (importing torch and plotly is paid when ``streamlit run app.py`` imports ``app.py`` to serve it).

``app.py`` hands :func:`lifespan` to ``st.App``; Streamlit starts listening once it has run. The
first visit's settings are the sidebar's defaults (:data:`~fernn.showcase.app.sidebar_digits.DEFAULT_MNIST`,
:data:`~fernn.showcase.app.sidebar_digits.DEFAULT_VELOCITIES`,
:data:`~fernn.showcase.app.sidebar_models.DEFAULT_FRAMES`, the first velocity choice); a test runs
the page after :func:`warm` and checks that it computes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator

import fernn.showcase as showcase
from fernn.showcase import serving, visitor_checkpoints
from fernn.showcase.app import resources
from fernn.showcase.app.shared import DEFAULT_PAIRS, TRANSLATE, VELOCITY_CHOICES
from fernn.showcase.app.sidebar_digits import DEFAULT_MNIST, DEFAULT_VELOCITIES, mnist_digit, translated_digit
from fernn.showcase.app.sidebar_models import DEFAULT_FRAMES

__all__ = ["first_visit", "lifespan", "warm"]

LOG = logging.getLogger(__name__)


def first_visit() -> tuple[list[showcase.Digit], visitor_checkpoints.RunSettings] | None:
    """The first visit's digit and run settings (its models: ``settings.paths``, the shipped
    translation pair); ``None`` when that pair is not in the checkpoint folder."""
    folder, files = resources.checkpoint_dir(), resources.checkpoint_files()
    pair = DEFAULT_PAIRS[TRANSLATE]
    if not all(name in files for name in pair):
        return None
    digits = [translated_digit(mnist_digit(DEFAULT_MNIST[0]), 1, 1, DEFAULT_VELOCITIES[0])]
    settings = visitor_checkpoints.RunSettings(tuple(folder / name for name in pair),
                                               showcase.velocity_choice(VELOCITY_CHOICES[0]), *DEFAULT_FRAMES, seed=0)
    return digits, settings


def warm() -> str:
    """Load the first visit's models and put its comparison in the server's cache; says what it did
    (or why it did nothing: then the page says what is wrong, as without a warm-up)."""
    started = time.perf_counter()
    try:
        serving.settings_from_environment(os.environ)
    except ValueError as error:
        return f"not warmed: {error}"
    resources.set_torch_threads()
    visit = first_visit()
    if visit is None:
        return f"not warmed: the shipped pair {DEFAULT_PAIRS[TRANSLATE]} is not in {resources.checkpoint_dir().name}/"
    digits, settings = visit
    models, versions = {}, []
    for item in visitor_checkpoints.open_checkpoints(settings.paths, resources.load_model):
        if item.problem:
            return f"not warmed: {item.path.name} cannot be used: {item.problem}"
        models[item.name] = item.model
        versions.append(item.version)
    key = serving.comparison_key(tuple(versions), digits, settings.velocities, settings.context_frames,
                                 settings.predict_frames)
    serving.run_cached(*resources.server(), key, lambda: showcase.compare(
        models, digits, context_frames=settings.context_frames, predict_frames=settings.predict_frames,
        velocities=settings.velocities))
    return f"warm in {time.perf_counter() - started:.1f} s: {', '.join(models)} loaded, the first comparison cached"


@contextlib.asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """``st.App``'s start-up: :func:`warm` (off the event loop), then serve. A warm-up that fails
    is logged and the server starts cold."""
    try:
        LOG.warning("fernn: %s", await asyncio.to_thread(warm))  # warning: Streamlit's log shows no info
    except Exception as error:  # noqa: BLE001 - a cold start is still a start
        LOG.warning("fernn: not warmed: %s", serving.visitor_message(error))
    yield
