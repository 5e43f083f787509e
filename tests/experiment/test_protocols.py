import numpy as np
import pytest

from dalib.experiment import protocols


def test_six_ser_tasks_with_field_class_sets():
    tasks = protocols.ser_tasks()
    assert [t.name for t in tasks] == ["B->E", "E->B", "B->C", "C->B", "E->C", "C->E"]
    by = {t.name: t.classes for t in tasks}
    assert by["B->E"] == ("angry", "disgust", "fear", "happy", "sad")
    assert by["C->B"] == ("angry", "fear", "happy", "neutral", "sad")
    assert by["E->C"] == ("angry", "fear", "happy", "sad", "surprise")
    with pytest.raises(ValueError, match=r"unknown ser task\(s\) \[.B->X.\]"):
        protocols.ser_tasks(["B->X"])


def test_map_classes_intersection_and_report():
    s = np.array(["angry", "sad", "boredom", "sad", "happy"])
    t = np.array(["sad", "angry", "surprise", "happy", "happy"])
    mapping, s_keep, s_y, t_keep, t_y = protocols.map_classes(s, t)
    assert mapping.classes == ("angry", "happy", "sad")
    assert mapping.dropped_source == {"boredom": 1}
    assert mapping.dropped_target == {"surprise": 1}
    np.testing.assert_array_equal(s_keep, [True, True, False, True, True])
    np.testing.assert_array_equal(s_y, [0, 2, 2, 1])
    np.testing.assert_array_equal(t_y, [2, 0, 1, 1])
    assert t_keep.sum() == 4
    assert "dropped from source: boredom (1 samples)" in mapping.describe()


def test_map_classes_errors():
    with pytest.raises(ValueError, match="share 1 class"):
        protocols.map_classes(["a", "b"], ["b", "c"])
    with pytest.raises(ValueError, match="absent from the target"):
        protocols.map_classes(["a", "b"], ["a", "c"], classes=["a", "b"])
