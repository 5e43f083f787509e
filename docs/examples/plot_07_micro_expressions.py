r"""
Micro-expressions: a synthetic clip, its LBP-TOP, and the regions TGSR and RSTR use
===================================================================================

The built-in synthetic micro-expression databases (:func:`dalib.synth.build_me`)
are written in the original layouts of CASME II and SMIC, so the real readers,
the face detector and :func:`dalib.features.lbp_top` run on them end to end.
This example builds a small subset of two of them, shows one clip's onset and
apex frames and what moved between them, the LBP-TOP histogram of the whole
face, and the face regions that the region-aware methods ``tgsr`` and
``rstr`` weight most on the task CASME II -> SMIC-HS, next to the motion in
the data. (``python -m experiments.mer_regions`` draws the same maps on the
full databases.)
"""

# %%
# A small build: 4 subjects with 5 clips each, in a temporary folder.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dalib.data import load_table, prepare_clip, read_corpus
from dalib.experiment import MER, prepare_task
from dalib.features import block_grid_positions, lbp_top
from dalib.shallow import make_shallow
from dalib.synth import build_me

root = Path(tempfile.mkdtemp(prefix="dalib-me-"))
paths = build_me(root, databases=["casme2", "smic-hs"], num_subjects=4, clips_per_subject=5)
corpus = read_corpus("casme2", paths["casme2"])
print(corpus.summary())

# %%
# One clip: the onset frame, the apex frame, and their difference (the
# micro-expression is a low-amplitude, local movement; here a lip-corner raise
# or a brow movement, depending on the clip's class).
clip = corpus.records[0]
prepared = prepare_clip(clip)
volume = prepared.array  # [T, H, W] in [0, 1], face-cropped, 16 frames
apex = int(np.abs(volume - volume[:1]).mean(axis=(1, 2)).argmax())
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
axes[0].imshow(volume[0], cmap="gray")
axes[0].set_title("onset")
axes[1].imshow(volume[apex], cmap="gray")
axes[1].set_title(f"apex (frame {apex})")
axes[2].imshow(np.abs(volume[apex] - volume[0]), cmap="magma")
axes[2].set_title("|apex - onset|")
for ax in axes:
    ax.set_axis_off()
fig.suptitle(f"{clip.file}: {clip.label} (face detected: {prepared.box.detected})")
fig.tight_layout()

# %%
# The LBP-TOP histogram of the whole face (block 0 of the 85): 59 bins for
# each of the XY, XT and YT planes, each normalised to sum 1.
features = np.asarray(lbp_top(volume))
fig, ax = plt.subplots(figsize=(9, 2.8))
for k, plane in enumerate(("XY", "XT", "YT")):
    ax.bar(np.arange(59) + 59 * k, features[59 * k : 59 * (k + 1)], width=1.0, label=plane)
ax.set_xlabel("bin (59 nri-uniform codes per plane)")
ax.set_ylabel("fraction of voxels")
ax.legend()
fig.tight_layout()

# %%
# The regions TGSR and RSTR weight on C -> H, on the 8x8 grid (the finest of
# the 1x1, 2x2, 4x4 and 8x8 grids), next to where the source faces moved.
source = load_table(paths["casme2"] / "features" / "lbptop.npz")
target = load_table(paths["smic-hs"] / "features" / "lbptop.npz")
(task_def,) = MER.select_tasks(["C->H"])
data = prepare_task(source, target, name="C->H", classes=task_def.classes).adapt
motion = np.zeros((106, 106))
for record in corpus.records:
    v = prepare_clip(record).array
    motion += np.abs(v - v[:1]).mean(axis=0)[3:-3, 3:-3]
cells = np.floor(np.arange(9) * 106 / 8).astype(int)
maps = {
    "motion (C)": np.array(
        [
            [motion[cells[i] : cells[i + 1], cells[j] : cells[j + 1]].mean() for j in range(8)]
            for i in range(8)
        ]
    )
}
finest = [k for k, (g, _, _) in enumerate(block_grid_positions()) if g == 8]
for method in ("tgsr", "rstr"):
    _, _, solution = make_shallow(method, num_classes=data.num_classes).fit_solution(
        data.source_features, data.source_labels, data.target_features, groups=data.groups
    )
    maps[method] = np.asarray(solution.region_importance)[finest].reshape(8, 8)
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, (name, image) in zip(axes, maps.items(), strict=True):
    ax.imshow(image / max(image.max(), 1e-12), cmap="magma", vmin=0, vmax=1)
    ax.set_title(name)
    ax.set_axis_off()
fig.tight_layout()
