"""The striatal region names: a convention the pipeline and the demo generator share (the
demo's truth columns are the pipeline's `sbr_<region>` columns). Names only, no anatomy: the
demo imports this, never spectstage.atlas or spectstage.template."""

from __future__ import annotations

STRIATAL_REGIONS = (
    "caudate_left",
    "caudate_right",
    "putamen_anterior_left",
    "putamen_anterior_right",
    "putamen_posterior_left",
    "putamen_posterior_right",
)
