"""The QC montage: both orientation letters on both panels, radiological, none hidden."""

from __future__ import annotations

import numpy as np

from spectstage import template
from spectstage.qc import FIGURE_INCHES, striatal_view


def test_montage_shows_r_and_l_on_each_panel_and_the_title_hides_none():
    """Radiological convention (patient right on the image's left) on the coronal and the
    axial panel, and the scan ID's box overlaps no orientation letter (it hid the
    coronal 'R')."""
    tmpl = template.load()
    fig, display = striatal_view(tmpl.image, tmpl, "sub-0123456789abcdef", "hot", FIGURE_INCHES)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (title,) = [t for t in fig.texts if t.get_text() == "sub-0123456789abcdef"]
    title_box = title.get_window_extent(renderer)
    for cut in ("y", "z"):
        letters = {
            t.get_text(): t.get_window_extent(renderer)
            for t in display.axes[cut].ax.texts
            if t.get_text() in ("R", "L") and t.get_visible()
        }
        assert set(letters) == {"R", "L"}, (cut, letters)
        assert letters["R"].x0 < letters["L"].x0, cut  # radiological
        for box in letters.values():
            assert not title_box.overlaps(box), (cut, title_box, box)
    assert np.isfinite(title_box.x0)


def test_montages_drawn_in_the_second_process_arrive_and_their_errors_reach_the_caller(tmp_path):
    """predict's montage process: a montage is a PNG on disk when `finish` returns, and a
    montage that cannot be written raises there (before predict writes its CSV)."""
    import pytest

    from spectstage.qc import Montages

    tmpl = template.load()
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    with pytest.raises(OSError), Montages() as montages:
        montages.draw(tmpl.image, tmpl, "ok", tmp_path / "qc" / "ok.png")
        montages.draw(tmpl.image, tmpl, "bad", blocked / "bad.png")
    assert (tmp_path / "qc" / "ok.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
