"""The demo's cerebrum and head outlines, from published anatomical measurements (MNI mm).

Why not one ellipsoid: an ellipsoid centred between the frontal and occipital poles is widest
at its centre and tapers to a point at both ends, so its occipital lobe is narrow and its
temporal lobes are thin at the bottom corners. Real cerebra are widest behind their middle
(over the temporal and parietal lobes), blunt at the occipital pole, flat-based (the
temporal lobes hang down to the middle cranial fossa) and domed on top. An `Ovoid` captures
that with few numbers: a superellipsoid |x/a|^p + |y/b|^p + |z/c|^p <= 1 whose semi-axes b and
c differ in front of / behind and above / below its centre (the plane of greatest width and
length), which keeps the surface smooth (p > 1) and the body star-shaped about the centre
(what `spectstage.demo.cortex` needs to fold its ribbon along rays).

Dimensions (none taken from the pipeline's template, atlas or nilearn's maps):
- Talairach & Tournoux (1988), proportional grid (as AFNI implements it): the brain reaches
  70 mm in front of the anterior commissure (AC), 102 mm behind it (AC-PC 23 + 79), 74 mm
  above and 42 mm below the AC-PC line (the temporal lobes), 68 mm to either side.
- MNI (ICBM-152) brains are larger than the Talairach brain (Lancaster et al. 2007, Hum
  Brain Mapp 28:1194: 5-13 mm coordinate disparity, largest at the front, top and back;
  Brett et al. 2002, Nat Rev Neurosci 3:243: taller, and the temporal lobes reach lower).
  Hence here: frontal pole y = +72, occipital pole y = -106, vertex z = +78, temporal base
  z = -45, x = +-70 (each 2-6 mm beyond Talairach).
- Greatest width behind the middle, over the temporal and parietal lobes (the euryon, the
  head's widest point, lies on the parietal bone behind the ears): the centre plane is at
  y = -25 mm (about the central sulcus at the lateral fissure) and z = +5 mm (the widest
  axial level crosses the superior temporal gyrus); the frontal lobes taper over 97 mm, the
  parieto-occipital lobes over 81 mm.
- Exponent 2.5: published MNI coordinates of cortex at the brain's convexity must lie inside
  the outline, near it: temporal pole about (+-40, 18, -36), inferior temporal gyrus about
  (+-58, -20, -28), occipital pole about (+-15, -102, 0), lateral occipital cortex about
  (+-44, -80, -4), frontal pole about (+-20, 66, -5). An ellipsoid (p = 2) with these extents
  leaves the temporal pole and the inferior temporal gyrus 4-6 mm outside the brain; p = 2.5
  holds them all, 0.4-11 mm deep (tests/test_demo_outline.py checks these points).
- Head: the cranium is the brain's outline grown by the extracerebral thickness (scalp
  ~5-6 mm, skull ~6-7 mm, CSF ~1-2 mm: scalp-to-cortex distances of 12-15 mm, e.g. Okamoto
  et al. 2004, NeuroImage 21:99), 13 mm on every side; its breadth, 166 mm in MNI, is adult
  head breadth (~152-155 mm, anthropometry) scaled by MNI's ~5-10 % enlargement. Below the
  skull base the face and jaw are narrower than the cranium (bizygomatic ~135-140 mm,
  bigonial ~100-110 mm): there the head is the earlier head ellipsoid (x +-78, y -118..82,
  z -84..92 mm; 107 mm wide at z = -60), which the cranium is united with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Ovoid:
    """A superellipsoid with separate front/back and top/bottom semi-axes (mm)."""

    centre: tuple[float, float, float]
    lateral: float
    anterior: float
    posterior: float
    superior: float
    inferior: float
    exponent: float

    def gauge(self, d: np.ndarray) -> np.ndarray:
        """Normalised radius of offsets d (N, 3) from the centre: < 1 inside, 1 on the
        surface, and homogeneous (gauge(t d) = t gauge(d)), so d / gauge(d) is the surface
        point on d's ray."""
        d = np.asarray(d, dtype=float)
        b = np.where(d[:, 1] >= 0, self.anterior, self.posterior)
        c = np.where(d[:, 2] >= 0, self.superior, self.inferior)
        p = self.exponent
        s = np.abs(d[:, 0] / self.lateral) ** p + np.abs(d[:, 1] / b) ** p
        return (s + np.abs(d[:, 2] / c) ** p) ** (1 / p)

    def inside(self, points: np.ndarray) -> np.ndarray:
        return self.gauge(np.asarray(points, dtype=float) - self.centre) <= 1.0

    def grown(self, mm: float) -> Ovoid:
        """The same shape with every semi-axis `mm` longer (shorter when negative)."""
        return replace(
            self,
            lateral=self.lateral + mm,
            anterior=self.anterior + mm,
            posterior=self.posterior + mm,
            superior=self.superior + mm,
            inferior=self.inferior + mm,
        )


@dataclass(frozen=True)
class Union:
    """Points inside any of the parts (the head: cranium and face)."""

    parts: tuple[Ovoid, ...]

    def inside(self, points: np.ndarray) -> np.ndarray:
        return np.logical_or.reduce([part.inside(points) for part in self.parts])

    def grown(self, mm: float) -> Union:
        return Union(tuple(part.grown(mm) for part in self.parts))


CENTRE_MM = (0.0, -25.0, 5.0)
# Frontal pole +72, occipital pole -106, vertex +78, temporal base -45, +-70 laterally.
CEREBRUM = Ovoid(CENTRE_MM, 70.0, 97.0, 81.0, 73.0, 50.0, 2.5)
EXTRACEREBRAL_MM = 13.0
CRANIUM = CEREBRUM.grown(EXTRACEREBRAL_MM)
FACE = Ovoid((0.0, -18.0, 4.0), 78.0, 100.0, 100.0, 88.0, 88.0, 2.0)  # an ellipsoid
HEAD = Union((CRANIUM, FACE))
