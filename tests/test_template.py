"""The shipped template is what the code builds, and its regions are anatomically placed."""

from __future__ import annotations

import numpy as np

from spectstage import template
from spectstage.geometry import apply


def test_shipped_template_matches_the_code():
    shipped, built = template.load(), template.build()
    np.testing.assert_allclose(shipped.image, built.image, atol=1e-5)
    np.testing.assert_array_equal(shipped.atlas, built.atlas)
    np.testing.assert_allclose(shipped.affine, built.affine)


def test_regions_sit_where_anatomy_says():
    tmpl = template.load()

    def centre(name):
        return apply(tmpl.affine, np.argwhere(tmpl.mask(name)).astype(float)).mean(axis=0)

    assert (
        centre("putamen_posterior_left")[0] < 0 < centre("putamen_posterior_right")[0]
    )  # RAS: +x right
    assert centre("putamen_posterior_left")[1] < centre("putamen_anterior_left")[1]
    assert centre("occipital")[1] < -70
    striatum = tmpl.image[tmpl.striatum()].mean()
    assert striatum > 1.5 * tmpl.image[tmpl.mask("occipital")].mean()
    assert not (tmpl.mask("nonstriatal_brain") & tmpl.striatum()).any()
