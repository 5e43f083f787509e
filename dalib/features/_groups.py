r"""Feature groups of openSMILE functionals: the low-level descriptor (LLD) of each column."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["lld_groups"]

# <lld>_sma[3|3nz][_de][<index>]_<functional>, e.g. pcm_fftMag_mfcc_sma_de[3]_amean.
_SMILE = re.compile(r"^(?P<lld>.+?)_sma(?:3nz|3)?(?:_de)?(?P<index>\[\d+\])?(?:_|$)")


def lld_groups(feature_names: Sequence[str], *, min_matched: float = 0.9) -> np.ndarray | None:
    r"""The LLD group of each openSMILE functional column, read from its name.

    An openSMILE functional is named ``<LLD>_sma[_de][<k>]_<functional>``, e.g.
    ``pcm_fftMag_mfcc_sma_de[3]_amean`` (the mean of the delta of the third MFCC).
    Columns with the same LLD and index — the contour and its delta, every
    functional of both — form one group. IS09 (384 columns) gives 16 groups of
    24: RMS energy, MFCC 1–12, zero-crossing rate, voicing probability and F0.
    Group ids follow the order of first appearance. A column whose name has no
    ``_sma`` part (e.g. IS10's ``F0final__Turn_numOnsets``) is a group of its own.

    These are the speech "regions" of region methods such as TANN (the face
    blocks of LBP-TOP play that part for micro-expressions).

    Args:
      feature_names: the ``D`` column names.
      min_matched: the share of names that must look like openSMILE functionals;
        below it the table is not an openSMILE table and ``None`` is returned.

    Returns:
      ``[D]`` int32 group ids, or ``None`` (not openSMILE functional names).

    Examples:
      >>> lld_groups(["F0_sma_max", "F0_sma_de_max", "pcm_fftMag_mfcc_sma[1]_amean",
      ...             "pcm_fftMag_mfcc_sma_de[2]_amean"]).tolist()
      [0, 0, 1, 2]
      >>> lld_groups(["f0", "f1"]) is None
      True
    """
    names = [str(n) for n in feature_names]
    if not names:
        return None
    keys, matched = [], 0
    for name in names:
        found = _SMILE.match(name)
        if found:
            matched += 1
            keys.append(found["lld"] + (found["index"] or ""))
        else:
            keys.append("\x00" + name)
    if matched < min_matched * len(names):
        return None
    ids: dict[str, int] = {}
    return np.asarray([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int32)
