"""Worker process of the synthetic-corpus build: ``python -m dalib.synth._worker``.

Reads ``pickle((function_name, jobs))`` from stdin, runs
``dalib.synth._build.<function_name>`` on each job in order and writes the
pickled list of results to stdout.
"""

import pickle
import sys

from dalib.synth import _build


def main() -> None:
    name, jobs = pickle.load(sys.stdin.buffer)
    fn = getattr(_build, name)
    results = [fn(job) for job in jobs]
    sys.stdout.buffer.write(pickle.dumps(results))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
