import json

import numpy as np

from dalib.experiment import outputs


def test_run_dir_marks_complete_last_and_restarts_partial(tmp_path):
    run = outputs.RunDir(tmp_path / "run")
    run.start()
    run.write_json("metrics.json", {"uar": np.float32(0.5), "arr": np.arange(2)})
    assert not run.is_complete()
    run.start()  # an interrupted attempt is cleared
    assert not (run.path / "metrics.json").exists()
    run.write_json("metrics.json", {"uar": 0.5})
    run.write_predictions(
        ["f1", "f2"], ["a", "b"], ["a", "a"], np.array([[0.9, 0.1], [0.6, 0.4]]), ["a", "b"]
    )
    run.finish()
    assert run.is_complete()
    run.start()  # a complete run is kept
    assert json.loads((run.path / "metrics.json").read_text()) == {"uar": 0.5}
    lines = (run.path / "predictions.csv").read_text().splitlines()
    assert lines[0] == "file,true,predicted,p_a,p_b"
    assert lines[2] == "f2,b,a,0.600000,0.400000"
    assert not list(run.path.glob("*.tmp"))
