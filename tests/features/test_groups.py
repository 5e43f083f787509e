"""lld_groups: the LLD of each openSMILE functional column, and tables that get them on load."""

import numpy as np

from dalib import data
from dalib.features import lld_groups

_LLDS = ["pcm_RMSenergy", "pcm_fftMag_mfcc", "pcm_zcr", "voiceProb", "F0"]
_FUNCTIONALS = ["max", "min", "range", "amean", "linregc1", "stddev"]


def _is09_like():
    """IS09's naming: LLD_sma[k]_f and LLD_sma_de[k]_f, MFCCs indexed 1..12."""
    names, lld_of = [], []
    for lld in _LLDS:
        indices = [f"[{k}]" for k in range(1, 13)] if "mfcc" in lld else [""]
        for idx in indices:
            for delta in ("", "_de"):
                for f in _FUNCTIONALS:
                    names.append(f"{lld}_sma{delta}{idx}_{f}")
                    lld_of.append(lld + idx)
    return names, lld_of


def test_groups_follow_the_lld_and_merge_its_delta():
    names, lld_of = _is09_like()
    groups = lld_groups(names)
    assert groups.dtype == np.int32 and groups.shape == (len(names),)
    # reference: same LLD (and index) <=> same group, ids in order of first appearance
    order = list(dict.fromkeys(lld_of))
    np.testing.assert_array_equal(groups, [order.index(k) for k in lld_of])
    assert groups.max() + 1 == 16  # IS09: energy, 12 MFCCs, ZCR, voicing, F0
    assert np.all(np.bincount(groups) == 2 * len(_FUNCTIONALS))


def test_egemaps_suffixes_and_unmatched_columns():
    names = ["loudness_sma3_amean", "loudness_sma3_stddevNorm", "F0semitoneFrom27.5Hz_sma3nz_amean",
             "mfcc1_sma3_amean", "VoicedSegmentsPerSec"]  # fmt: skip
    assert lld_groups(names, min_matched=0.8).tolist() == [0, 0, 1, 2, 3]  # 4 of 5 match
    assert lld_groups(names) is None  # below the default 90 %: not an openSMILE table
    assert lld_groups(["f0000", "f0001", "loudness_sma3_amean"]) is None
    assert lld_groups([]) is None


def test_tables_of_opensmile_functionals_get_groups_on_load(tmp_path):
    names, _ = _is09_like()
    x = np.random.default_rng(0).normal(size=(3, len(names)))
    table = data.load_table(data.save_table(tmp_path / "t.npz", x, ["a", "b", "c"],
                                            feature_names=names))  # fmt: skip
    np.testing.assert_array_equal(table.groups, lld_groups(names))
    csv = data.load_table(data.save_table(tmp_path / "t.csv", x, ["a", "b", "c"],
                                          feature_names=names))  # fmt: skip
    np.testing.assert_array_equal(csv.groups, table.groups)
    # stored groups win over the names
    given = np.arange(len(names)) % 3
    kept = data.load_table(data.save_table(tmp_path / "g.npz", x, ["a", "b", "c"],
                                           feature_names=names, groups=given))  # fmt: skip
    np.testing.assert_array_equal(kept.groups, given)
