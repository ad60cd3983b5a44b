"""How to cite: CITATION.cff and the README's BibTeX name the paper as fernn.paper does."""

from __future__ import annotations

from pathlib import Path

import pytest

import fernn
import fernn.paper as paper

ROOT = Path(__file__).resolve().parent.parent


def test_citation_file_names_the_paper_and_the_software():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "MIT"
    assert cff["version"] == fernn.__version__
    cited = cff["preferred-citation"]
    assert cited["title"] == paper.TITLE and cited["year"] == 2025 and "NeurIPS" in cited["collection-title"]
    assert cited["authors"] == [{"family-names": "Keller", "given-names": "T. Anderson"}]
    assert cited["url"] == paper.URL and f"arXiv:{paper.ARXIV_ID}" in [i["value"] for i in cited["identifiers"]]


def test_the_readme_carries_the_bibtex_entry():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Citation" in text and paper.BIBTEX.strip() in text
    assert paper.TITLE in paper.BIBTEX and paper.ARXIV_ID in paper.BIBTEX and "Keller, T. Anderson" in paper.BIBTEX
