"""The app's cached resources and where its checkpoints are: each checkpoint loaded once per file
version, the server's comparison cache and run slots (shared by every session), the MNIST test
digits, and each uploaded image decoded once.

Checkpoints come from ``pretrained/`` or the folder named by ``FERNN_CHECKPOINT_DIR`` (classifiers
from its ``classify/``), through :func:`fernn.load_checkpoint` (``weights_only=True``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from fernn.checkpoints import find_model, load_checkpoint
from fernn.devices import resolve_device, set_threads_from_environment
from fernn.models import Forecaster
import fernn.showcase as showcase
from fernn.datasets.digits import load_digits
from fernn.showcase import owndigit, serving, visitor_checkpoints

ROOT = Path(__file__).resolve().parents[3]  # the checkout app.py runs from: pretrained/, docs/


def checkpoint_dir() -> Path:
    """``FERNN_CHECKPOINT_DIR``, else the checkout's ``pretrained/``. Read on every call, not once at
    import: the module outlives a run, and tests point each AppTest at another folder."""
    return Path(os.environ.get("FERNN_CHECKPOINT_DIR") or ROOT / "pretrained")


def classify_dir() -> Path:
    """The shipped classifiers' folder (:data:`fernn.showcase.CLASSIFIER_FILES`)."""
    return checkpoint_dir() / "classify"


def checkpoint_files() -> list[str]:
    """The forecasters a visitor can pick: the checkpoint folder's models and its subfolders' (the
    classifiers' folder is the Classify view's, the world models' the World motion's)."""
    return visitor_checkpoints.checkpoint_files(checkpoint_dir(), skip=(classify_dir().name, "resume", "world"))


def classifier_paths() -> tuple[Path, ...]:
    """The shipped classifiers that are there (model folders, or older ``.pt`` files), in
    :data:`fernn.showcase.CLASSIFIER_FILES` order."""
    found = (find_model(classify_dir(), name) for name in showcase.CLASSIFIER_FILES)
    return tuple(path for path in found if path is not None)


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=8)
def load_model(path: str, modified: float, size: int) -> Forecaster:
    """A model's, once per version of its files (``modified`` and ``size`` are in the key)."""
    return load_checkpoint(path, resolve_device("auto"))


def server() -> tuple[serving.ComparisonCache, serving.RunSlots]:
    """Shared by every session: comparisons bounded by bytes, and the heavy-run queue; kept by
    :func:`fernn.showcase.serving.server_for`, out of reach of a client's clear_cache message."""
    return serving.server_for(serving.settings_from_environment(os.environ))  # server_ready() checked them


def server_ready() -> bool:
    """Whether the server's settings are usable (else the page says what is wrong); sets torch's
    thread count (:func:`set_torch_threads`)."""
    try:
        serving.settings_from_environment(os.environ)
    except ValueError as error:
        st.error(f"This server is misconfigured: {error}.")
        return False
    set_torch_threads()
    return True


def set_torch_threads() -> None:
    """Torch's thread count from ``FERNN_TORCH_THREADS`` (default 1), for the page and the warm-up alike."""
    set_threads_from_environment("FERNN_TORCH_THREADS", default=1)


@st.cache_data(show_spinner=False)
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test digits ``uint8 (N, 28, 28)`` and their labels ``(N,)``."""
    return load_digits("test")


@st.cache_data(max_entries=64, show_spinner="Reading the image…")
def upload_digit(data: bytes, _slots: serving.RunSlots) -> np.ndarray:
    """Once per distinct file (``_slots`` is not part of the cache key), in a run slot: decoding
    is the costly part of an upload."""
    return owndigit.digit_from_upload(data, slots=_slots)
