"""The sidebar's models and run settings: 3 · Models (up to three model slots, the visitor's own
checkpoints, the FERNN velocity set) and 4 · Run (frames, seed); and loading what was chosen, with
a plain message for each file that cannot be used.

Own checkpoints are uploaded, read in memory and kept in the visitor's session only. Widgets only:
reading an upload safely lives in :mod:`fernn.showcase.visitor_checkpoints`.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import streamlit as st

import fernn.showcase as showcase
from fernn.showcase import owndigit, serving, visitor_checkpoints
from fernn.showcase.app import resources
from fernn.showcase.app.shared import (BIND, DEFAULT_PAIRS, MAX_OWN, MODEL_A, MODEL_B, MODEL_C, MODEL_UPLOAD, NONE,
                                       OWN, SEED, SLOTS, VELOCITY_CHOICES, WAITING)


DEFAULT_FRAMES = (10, 10)  # context and predicted frames of a first visit (VELOCITY_CHOICES[0]: auto)


def _session_token() -> str:
    """This session's random token: in every cache key made with its own checkpoints."""
    if "session_token" not in st.session_state:
        st.session_state["session_token"] = secrets.token_hex(16)
    return st.session_state["session_token"]


def _own_checkpoints(slots: serving.RunSlots) -> tuple[dict[str, visitor_checkpoints.UploadedCheckpoint], list[str], list[str]]:
    """The session's own checkpoints by list label, the problems to show, and the labels read in
    this run. Each uploaded file is read once (by its upload id) and forgotten when it is removed."""
    files = list(st.session_state.get(MODEL_UPLOAD) or [])
    read = st.session_state.setdefault("own_checkpoints", {})  # upload id -> UploadedCheckpoint or its problem
    current = {upload.file_id: upload for upload in files[:MAX_OWN]}
    for gone in set(read) - set(current):
        del read[gone]
    fresh, notice = [], st.empty()  # the queue's notice, gone when the files are read
    for file_id, upload in current.items():
        if file_id in read:
            continue
        name = Path(upload.name).name
        try:
            visitor_checkpoints.check_checkpoint_upload(upload.size)  # before a byte is read
            with slots.hold(on_wait=lambda: notice.info(WAITING), timeout=owndigit.UPLOAD_WAIT_SECONDS):
                read[file_id] = visitor_checkpoints.checkpoint_from_upload(upload.getvalue(), file_name=name,
                                                                           session=_session_token())
            fresh.append(file_id)
        except showcase.DemoError as error:
            read[file_id] = f"Cannot use {name}: {error}."
    notice.empty()
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
                defaults: tuple[str, str] = ("grnn", "fernn")) -> tuple[Path | visitor_checkpoints.UploadedCheckpoint, ...]:
    """Up to three chosen models in slot order: a shipped file's path (``folder / name``), or one of
    the visitor's own checkpoints (:class:`fernn.showcase.visitor_checkpoints.UploadedCheckpoint`).
    Slots 1 and 2 open on ``defaults`` where those files are there; slot 3 on none."""
    own, problems, fresh = _own_checkpoints(slots)
    options = [*files, *own]
    choices = {key: options if key == MODEL_A else [NONE, *options] for key, _ in SLOTS}
    wanted = dict(zip((MODEL_A, MODEL_B, MODEL_C), (*defaults, NONE)))
    for key, allowed in choices.items():  # a removed upload leaves its slot: back to the default
        if key in st.session_state and st.session_state[key] not in allowed:
            st.session_state[key] = wanted[key] if wanted[key] in allowed else allowed[0] if allowed else None
    if fresh and st.session_state.get(MODEL_C, NONE) == NONE:  # a new upload goes where nothing is
        st.session_state[MODEL_C] = fresh[0]
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
    st.file_uploader(f"Your own models (.safetensors from `python -m fernn.train --export NAME.safetensors`, or .pt; "
                     f"up to {MAX_OWN}, {visitor_checkpoints.MAX_CHECKPOINT_BYTES // 1024**2} MB each)",
                     type=["safetensors", "pt"],
                     accept_multiple_files=True, key=MODEL_UPLOAD,
                     max_upload_size=visitor_checkpoints.MAX_CHECKPOINT_BYTES // 1024**2,
                     help="Read in memory (safetensors: every declared size checked first; .pt: weights_only=True) "
                          "and kept in this session only (never on the server's disk); they join the lists above as "
                          f"{OWN}name. A model folder becomes one file with `python -m fernn.convert FOLDER --output "
                          "NAME.safetensors`. Links cannot carry them.")
    for problem in problems:
        st.error(problem)
    st.caption("Each loaded model's card (training, held-out numbers, the paper's) is in the About tab.")
    return tuple(chosen)


def choose_settings(motion: str) -> visitor_checkpoints.RunSettings:
    """3 · Models and 4 · Run: the chosen models, the FERNN velocity set, frame counts and seed."""
    st.header("3 · Models")
    folder, files = resources.checkpoint_dir(), resources.checkpoint_files()
    if not files:
        st.error(f"No models in the folder `{folder.name}`: train with `python -m fernn.train --export` or "
                 "point `FERNN_CHECKPOINT_DIR` at a folder of models.")
    # Shipped files and the visitor's own; the motion's pair by default (a change of motion sets the
    # pair through the session state, sidebar_digits._open_motion_pair).
    paths = model_slots(folder, files, slots=resources.server()[1], defaults=DEFAULT_PAIRS[motion])
    choice = st.selectbox("FERNN velocity set at inference: auto, as trained, or r", VELOCITY_CHOICES, key="vset",
                          bind=BIND, help="One hidden copy per velocity; the weights are shared, so any set runs. A "
                          "FERNN tracks a velocity only if it is in the set: 'auto' widens it to cover the digits.")
    st.caption(showcase.describe_velocity_choice(choice))
    st.header("4 · Run")
    context = st.slider("Context frames (the models read these)", 1, 20, DEFAULT_FRAMES[0], key="context", bind=BIND)
    predict = st.slider("Predicted frames", 1, 70, DEFAULT_FRAMES[1], key="predict", bind=BIND,
                        help="Training used 10 to 20.")
    seed = st.number_input("Seed", 0, 2**31 - 1, 0, key=SEED, bind=BIND, help="For random digits and live grids.")
    return visitor_checkpoints.RunSettings(paths, showcase.velocity_choice(choice), int(context), int(predict), int(seed))


def load_models(paths: tuple[Path, ...], names: dict[str, str] | None = None) -> tuple[dict, tuple]:
    """The chosen checkpoints by display name (``names[folder or file stem]`` where given), and a key naming
    the files' versions; a specific error for each that cannot be used."""
    models, versions = {}, []
    for item in visitor_checkpoints.open_checkpoints(paths, resources.load_model):
        if item.problem:
            st.error(f"Checkpoint `{item.path.name}` cannot be used: {item.problem}")
            continue
        name = names[item.path.stem] if names else item.name
        if not item.evaluated:
            st.warning(f"**{name}** (`{item.path.name}`) has no recorded evaluation: treat it as untrained.")
        models[name] = item.model
        versions.append(item.version)
    return models, tuple(versions)
