"""The demo's computations: input scenes, side-by-side rollouts, hidden-state views, exports.

Everything the Streamlit app (``app.py``) shows is computed here and drawn by
:mod:`fernn.showcase.viz`; the app only wires widgets to these functions. No streamlit import.

The one entry point is :func:`compare`::

    from fernn import load_checkpoint, showcase
    models = {"G-RNN": load_checkpoint("pretrained/grnn"), "FERNN": load_checkpoint("pretrained/fernn")}
    scene = showcase.mnist_scene([12], velocities=[(2, -3)])
    result = showcase.compare(models, scene)                  # 10 context + 10 predicted frames
    result.runs[1].mean_mse, result.runs[1].velocity_readout

One room per job; a room imports only the rooms listed above it:

    errors     DemoError
    scenes     Digit, mnist_scene, default_starts, scene_flow, scene_frames, seen_from
    planning   velocity-set choices (AUTO, AS_TRAINED, r; velocity_choice), velocity_set_for,
               rollout_memory_bytes, plan_runs
    analysis   hidden_frame_indices, motion_stabilise, stabilised_drift, velocity_readout
    results    HiddenViews, ModelRun, Comparison (plain arrays)
    records    record, is_evaluated, training_max_speed, shared_training_speed, recorded_grids,
               weights_problem
    runs       compare: the rollouts, reduced step by step into results
    export     comparison_npz
    headline   headline, drift_summary, readout_notes
    classify   flicker_scene, classify (classifiers' probabilities after each frame), classify_headline,
               ring_series (recorded accuracy per velocity ring)
    cards      model_card (a loaded model's card: config, training, held-out record, the paper's number)
    study      held_out_study, live_grids ("Evaluate these settings": many held-out sequences, live grids)
    world      the World motion: world_actions (the observer's paths), world_scene, compare_world (both
               world models, memories in world coordinates), world_headline, world_npz (import it by
               module: ``fernn.showcase.world``)
"""

from __future__ import annotations

from fernn.showcase.analysis import hidden_frame_indices, motion_stabilise, stabilised_drift, velocity_readout
from fernn.showcase.cards import ModelCard, model_card
from fernn.showcase.classify import (CLASSIFIER_FILES, Classification, ClassifierRun, FlickerScene,
                                     RingSeries, classifiers_missing, classify,
                                     classify_headline, flicker_scene, reads_one_frame, ring_series)
from fernn.showcase.errors import DemoError
from fernn.showcase.export import comparison_npz
from fernn.showcase.headline import drift_summary, headline, keeps, readout_notes, training_range_note
from fernn.showcase.planning import (AS_TRAINED, AUTO, DEFAULT_MEMORY_LIMIT, MAX_FRAMES, MAX_RUN_MACS, MAX_SET_SPEED,
                                     RunPlan, describe_velocity_choice, peak_pooled, plan_runs, rollout_memory_bytes,
                                     set_radius, velocity_choice, velocity_set_for)
from fernn.showcase.records import (frames_notes, is_evaluated, recorded_grids, shared_training_speed,
                                    training_max_speed, weights_problem)
from fernn.showcase.results import Comparison, HiddenViews, ModelRun
from fernn.showcase.runs import compare
from fernn.showcase.scenes import Digit, default_starts, mnist_scene, scene_flow, scene_frames, seen_from
from fernn.showcase.study import HeldOutStudy, LiveGrids, held_out_study, live_grids

__all__ = [
    "AS_TRAINED",
    "AUTO",
    "CLASSIFIER_FILES",
    "DEFAULT_MEMORY_LIMIT",
    "MAX_FRAMES",
    "MAX_RUN_MACS",
    "MAX_SET_SPEED",
    "Classification",
    "ClassifierRun",
    "Comparison",
    "DemoError",
    "Digit",
    "FlickerScene",
    "HeldOutStudy",
    "HiddenViews",
    "LiveGrids",
    "ModelCard",
    "ModelRun",
    "RingSeries",
    "RunPlan",
    "classifiers_missing",
    "classify",
    "classify_headline",
    "compare",
    "comparison_npz",
    "default_starts",
    "describe_velocity_choice",
    "drift_summary",
    "flicker_scene",
    "frames_notes",
    "headline",
    "keeps",
    "held_out_study",
    "hidden_frame_indices",
    "is_evaluated",
    "live_grids",
    "mnist_scene",
    "model_card",
    "motion_stabilise",
    "plan_runs",
    "readout_notes",
    "reads_one_frame",
    "recorded_grids",
    "ring_series",
    "peak_pooled",
    "rollout_memory_bytes",
    "scene_flow",
    "scene_frames",
    "seen_from",
    "set_radius",
    "shared_training_speed",
    "stabilised_drift",
    "training_max_speed",
    "training_range_note",
    "velocity_choice",
    "velocity_readout",
    "velocity_set_for",
    "weights_problem",
]
