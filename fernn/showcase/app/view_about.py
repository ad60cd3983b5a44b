"""The About tab: a card per loaded model (training, held-out numbers, the paper's, the validation
curve) and the explanation of what the page shows (``docs/app-explanation.md``)."""

from __future__ import annotations

import streamlit as st

import fernn.showcase as showcase
from fernn.models import Forecaster
from fernn.showcase.app import resources
from fernn.showcase.app.shared import CHART
from fernn.showcase.viz.cards import validation_curve_figure


def show(models: dict[str, Forecaster]) -> None:
    """The model cards, then the explanation."""
    model_cards(models)
    st.markdown((resources.ROOT / "docs" / "app-explanation.md").read_text())


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
