"""The message of a comparison in plain words: each digit's speed against the training range,
and which model kept the digit."""

from __future__ import annotations

from fernn.flows import Flow, Velocity
from fernn.showcase.results import Comparison
from fernn.flows.words import words

__all__ = ["KEEP_OF_BASELINE", "KEEP_OF_OWN", "drift_summary", "headline", "keeps", "keeps_text", "readout_notes",
           "training_range_note", "worse_is_blank"]



def training_range_note(flow: Flow, velocity: Velocity, limit: int | None, *, who: str = "models") -> str:
    """Where ``velocity`` lies against the training range ``|v| <= limit``, as a clause to follow
    the velocity ("" when the range is not recorded), e.g. ", 3× the fastest training motion (1 px/frame)"."""
    speed = flow.speed(velocity)
    if limit is None:
        return ""
    if speed <= limit:
        return f", inside the training range ({words(flow).range_text(limit)})"
    if limit == 0:
        return f", and the {who} were trained on still digits"
    return f", {speed / limit:g}× the fastest training motion ({words(flow).speed_text(limit)})"


def headline(comparison: Comparison) -> str:
    """The run in plain words (Markdown): each digit's speed against the training range, and
    how the two or three models did, e.g. "... **112× lower error** for **FERNN** over 10 predicted frames."."""
    limit = comparison.training_max_speed
    parts = []
    flow = comparison.flow
    for index, velocity in enumerate(comparison.digit_velocities):
        who = f"Digit {index + 1}" if len(comparison.digit_velocities) > 1 else "The digit"
        where = training_range_note(flow, velocity, limit)
        parts.append(f"{who} {words(flow).verb} at **{words(flow).rate(velocity)}**{where}.")
    runs = comparison.runs
    if len(runs) > 1:
        parts.append(_verdict(comparison) + f" over {comparison.predict_frames} predicted frames.")
    elif runs:
        parts.append(f"{runs[0].name}: MSE {runs[0].mean_mse:.1e} over {comparison.predict_frames} predicted frames.")
    fernns = [run for run in runs if run.kind.lifted]
    for run in fernns:
        outside = [v for v in comparison.digit_velocities if v not in run.velocities]
        if outside:
            # Named in bold unless it is the page's one "FERNN": two FERNNs must never both be "the FERNN".
            whose, who = ("the FERNN's", "the FERNN") if len(fernns) == 1 and run.name == "FERNN" else \
                (f"**{run.name}**'s", f"**{run.name}**")
            parts.append(f"{_listed(flow, outside)} outside {whose} velocity set: no hidden copy moves with "
                         f"{'them' if len(outside) > 1 else 'it'}, so {who} loses its advantage there.")
    return " ".join(parts)


def _verdict(comparison: Comparison) -> str:
    """How two or three runs did, best first, each named as the page names it (in bold: with two
    FERNNs, "the FERNN" would not say which), e.g. "**FERNN** keeps it (MSE 2.0e-03); **G-RNN**
    smears it (MSE 2.2e-01): **112× lower error** for **FERNN**"."""
    runs = sorted(comparison.runs, key=lambda run: run.mean_mse)
    best, others = runs[0], runs[1:]
    them = "them" if len(comparison.digit_velocities) > 1 else "it"
    factors = [other.mean_mse / max(best.mean_mse, 1e-12) for other in others]
    if all(factor < 1.5 for factor in factors):
        each = ", ".join(f"{run.mean_mse:.1e} for **{run.name}**" for run in runs)
        return f"{'Both' if len(runs) == 2 else f'All {len(runs)}'} models do about as well (MSE {each})"
    clauses = [f"**{best.name}** {keeps_text(best, comparison, them)}"]
    for other, factor in zip(others, factors):
        if factor < 1.5:
            clauses.append(f"**{other.name}** does about as well (MSE {other.mean_mse:.1e})")
            continue
        # A prediction that has gone dark is lost, not smeared.
        verb = (f"loses {them}" if worse_is_blank(other, comparison) else f"smears {them}") \
            if other.mean_mse > 0.3 * comparison.baseline_mean_mse else "does worse"
        gain = f"**{factor:.0f}× lower error** for **{best.name}**"
        clauses.append(f"**{other.name}** {verb} (MSE {other.mean_mse:.1e})" + (f": {gain}" if len(runs) == 2
                                                                                    else f", {gain}"))
    return "; ".join(clauses)


# The verdict's rule (said in the About tab): a model "keeps" the digits only when its error is at most
# KEEP_OF_BASELINE of repeating the last context frame and, where its checkpoint records one, at most
# KEEP_OF_OWN times its own held-out error inside the training range; a visible ghost fails both.
KEEP_OF_BASELINE, KEEP_OF_OWN = 0.1, 3.0


def keeps(run, comparison: Comparison) -> bool:
    """Whether ``run`` kept the digits by the stated rule (:data:`KEEP_OF_BASELINE`, :data:`KEEP_OF_OWN`)."""
    if run.mean_mse > KEEP_OF_BASELINE * comparison.baseline_mean_mse:
        return False
    return run.in_range_mse is None or run.mean_mse <= KEEP_OF_OWN * run.in_range_mse


def keeps_text(run, comparison: Comparison, them: str) -> str:
    """The best run's clause: "keeps it (MSE ...)", or "does best (MSE ..., N× its own error inside the
    training range)" when the rule says it did not keep them."""
    if keeps(run, comparison):
        return f"keeps {them} (MSE {run.mean_mse:.1e})"
    if run.in_range_mse and run.mean_mse > KEEP_OF_OWN * run.in_range_mse:
        return (f"does best (MSE {run.mean_mse:.1e}, {run.mean_mse / run.in_range_mse:.0f}× its own error inside "
                "the training range)")
    return f"does best (MSE {run.mean_mse:.1e})"


def worse_is_blank(run, comparison: Comparison) -> bool:
    """Whether ``run``'s predictions have faded to (nearly) nothing: under 10% of the truth's mean ink."""
    truth = comparison.truth[comparison.context_frames:]
    return float(run.prediction.mean()) < 0.1 * max(float(truth.mean()), 1e-12)


def _listed(flow: Flow, velocities) -> str:
    """``"(1, 2) is"`` or ``"(4, -4) and (-4, 4) are"``: velocities as the flow labels them, with the verb."""
    labels = [words(flow).label(v) for v in velocities]
    if len(labels) == 1:
        return f"{labels[0]} is"
    return f"{', '.join(labels[:-1])} and {labels[-1]} are"


def drift_summary(comparison: Comparison) -> str:
    """Each run's state drift (:attr:`~fernn.showcase.HiddenViews.drift`), e.g. "G-RNN **0.61** · FERNN **0.00**"."""
    return " · ".join(f"{run.name} **{run.hidden.drift:.2f}**" for run in comparison.runs)


def readout_notes(comparison: Comparison) -> list[tuple[str, bool]]:
    """For every multi-copy run: its velocity read-out against the digits' true velocities; then, for
    every FERNN run (one run with the single set ``{0}`` included), as a warning (``True``), any digit
    velocity outside the set it ran with (Markdown)."""
    notes = []
    flow = comparison.flow
    true = ", ".join(map(words(flow).label, comparison.digit_velocities))
    for run in (r for r in comparison.runs if len(r.velocities) > 1 or r.kind.lifted):
        if len(run.velocities) > 1:
            best = words(flow).label(run.ranking[0])
            notes.append((f"**{run.name} velocity read-out:** {best} (most active copy over "
                          f"the context); true: {true}.", False))
        outside = [v for v in comparison.digit_velocities if v not in run.velocities]
        if outside:
            notes.append((f"{_listed(comparison.flow, outside)} outside this run's velocity set: no copy moves "
                          f"with {'them' if len(outside) > 1 else 'it'}. Choose 'auto' or a wider r under "
                          "3 · Models.", True))
    return notes
