"""The sidebar's own digit (part of 1 · Input): a digit drawn on a canvas or uploaded as an image,
or the one a shared link carries (``d1``).

Widgets only: preparing the digit, bounding uploads and choosing which digit is in use live in
:mod:`fernn.showcase.owndigit`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import fernn.showcase as showcase
from fernn.showcase import owndigit, serving
from fernn.showcase.app import resources


def own_digit(source: str, *, slots: serving.RunSlots) -> tuple[np.ndarray | None, str]:
    """A drawn (``source="Draw"``) or uploaded digit, from the widget or, until this session draws or
    uploads, from the link (``d1``); or a message. An emptied canvas or a failed upload leaves no
    digit in use. Uploads are decoded in one of the server's run ``slots``."""
    made, problem = None, ""
    if source == "Draw":
        # Imported here, from its module at call time: only drawing needs it, and tests stand in for it.
        from streamlit_drawable_canvas import st_canvas

        st.caption("Draw one digit, white on black; the toolbar above the canvas undoes or clears.")
        pixels = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=224,
                           width=224, drawing_mode="freedraw", return_image_data=True, key="canvas").image_data
        empty = "Draw a digit on the canvas to start."
        try:
            made = owndigit.digit_from_drawing(pixels)
        except showcase.DemoError as error:
            problem = f"Cannot use this drawing: {error}."
    else:
        upload = st.file_uploader(f"PNG or JPEG, at most 2 MB and {owndigit.MAX_UPLOAD_PIXELS / 1e6:.0f} megapixel",
                                  type=["png", "jpg", "jpeg"], key="upload")
        empty = "Upload a PNG or JPEG image of a digit to start."
        try:
            made = None if upload is None else resources.upload_digit(upload.getvalue(), slots)
        except showcase.DemoError as error:
            problem = f"Cannot use {upload.name}: {error}. No digit is in use until an upload succeeds."
    chosen = owndigit.use_own_digit(made, problem, empty=empty, link=st.query_params, state=st.session_state)
    if chosen.from_link:
        st.caption("Using the digit from the link; draw or upload to replace it.")
    return chosen.image, chosen.message
