"""The paper's numbers and reference, in one place: Keller, *Flow Equivariant Recurrent Neural
Networks*, arXiv 2507.14793 (NeurIPS 2025).

The numbers come from secondary summaries of the paper (its PDF was not read; see
``docs/paper-notes.md``), and its models are wider and trained far longer than fernn's CPU-scale
ones: a reference for orderings and ratios, not a score to match. Say :data:`SOURCE` wherever one
is shown.
"""

from __future__ import annotations

__all__ = ["ARXIV_ID", "BIBTEX", "ROTATION_MAX_SPEED", "ROTATION_ORDER", "ROTATION_TEST_MSE", "SOURCE", "TABLE1_MAX_SPEED",
           "TABLE1_TEST_MSE", "TITLE", "URL"]

TITLE = "Flow Equivariant Recurrent Neural Networks"
ARXIV_ID = "2507.14793"
URL = f"https://arxiv.org/abs/{ARXIV_ID}"
SOURCE = "secondary sources"  # said wherever the paper's numbers are shown
# How to cite it (model cards, README, CITATION.cff say the same).
BIBTEX = """
@inproceedings{keller2025fernn,
  title     = {Flow Equivariant Recurrent Neural Networks},
  author    = {Keller, T. Anderson},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2025},
  eprint    = {2507.14793},
  archivePrefix = {arXiv},
  url       = {https://arxiv.org/abs/2507.14793}
}
"""

# Table 1, Translating MNIST test MSE: two digits, per-digit velocities in {-2..2}^2, 10 -> 10 frames.
TABLE1_MAX_SPEED = 2
TABLE1_TEST_MSE = {"grnn": 8.1e-3, "fernn-v1": 5.3e-4, "fernn-v2": 1.5e-4}

# Rotating MNIST test MSE: the research code's C_36 (10-degree steps), data up to 4 steps (40 degrees)
# per frame; the FERNN's set V_4 (9 angular velocities).
ROTATION_ORDER, ROTATION_MAX_SPEED = 36, 4
ROTATION_TEST_MSE = {"grnn": 4.0e-3, "fernn-v4": 6.1e-4}
