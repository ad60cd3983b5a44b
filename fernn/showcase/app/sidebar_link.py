"""The link to the view: checked once per session on arrival (a bad value is replaced, with a note
in the sidebar), and offered to copy at the end of every run.

Widgets with ``bind`` are mirrored in the URL, and a drawn or uploaded digit travels in it too
(``d1``), so a link reproduces the view. The checks are :mod:`fernn.showcase.links`'.
"""

from __future__ import annotations

import streamlit as st

from fernn.showcase import links
from fernn.showcase.app import page_scripts, resources
import fernn.showcase.world as world
from fernn.showcase.app.shared import (ANGULAR_VELOCITIES, LINK_CHECKED, LINK_NOTES, MAX_DIGIT_SPEED, MOTIONS, OWN,
                                       RENAMED_TABS, START_ANGLES, TABS, VELOCITY_CHOICES, WORLD_DIGIT_SPEED,
                                       WORLD_SIZE)


def check_on_arrival() -> None:
    """Once per session, before any widget reads the URL: a bad value is replaced in the link,
    with a note (a widget meeting ``digit1=inf`` would break the page)."""
    if LINK_CHECKED in st.session_state:
        return
    fields = links.demo_link_fields(test_digits=len(resources.test_digits()[0]),
                                    checkpoints=resources.checkpoint_files(),
                                    velocity_choices=VELOCITY_CHOICES, tabs=TABS, renamed_tabs=RENAMED_TABS,
                                    max_digit_speed=MAX_DIGIT_SPEED, motions=MOTIONS,
                                    angular_velocities=ANGULAR_VELOCITIES, start_angles=START_ANGLES,
                                    world_paths=world.PATHS, world_speed=WORLD_DIGIT_SPEED, world_size=WORLD_SIZE,
                                    moves_chars=world.MAX_MOVES_CHARS)
    found = links.check_link({key: st.query_params.get_all(key) for key in st.query_params}, fields)
    st.session_state[LINK_CHECKED], st.session_state[LINK_NOTES] = True, found.notes
    if found.changed:
        st.query_params.from_dict(found.params)
        st.rerun()  # the widgets read the URL the run starts with


def show_notes() -> None:
    """The notes on the values the arrival check replaced, at the top of the sidebar."""
    if st.session_state[LINK_NOTES]:
        st.sidebar.info("\n\n".join(st.session_state[LINK_NOTES]))
        st.sidebar.button("Dismiss the note", key="dismiss_link_notes",
                          on_click=lambda: st.session_state.update({LINK_NOTES: []}))


def share(motion: str) -> None:
    """The link to this view; last in a run, when every widget has written its value to the URL. It
    carries ``motion``'s values only and never the sender's own checkpoints (a note says so)."""
    params, notes = links.shareable({key: st.query_params.get_all(key) for key in st.query_params}, motion=motion,
                                    own_marker=OWN)
    url = links.share_url(st.context.url or "", params)
    st.caption("Link to this view:")
    page_scripts.copy_link_button(url)  # the link as text and a button a finger can press
    for note in notes:
        st.caption(f"ℹ️ {note}")
