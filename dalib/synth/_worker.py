"""Worker process of the synthetic-corpus build: ``python -m dalib.synth._worker``.

Reads ``pickle((function_name, jobs))`` from stdin, runs the function
(``module:name``, or a bare name in ``dalib.synth._build``) on each job in
order and writes the pickled list of results to stdout.
"""

import importlib
import pickle
import sys


def main() -> None:
    name, jobs = pickle.load(sys.stdin.buffer)
    module, _, attr = name.rpartition(":")
    fn = getattr(importlib.import_module(module or "dalib.synth._build"), attr)
    results = [fn(job) for job in jobs]
    sys.stdout.buffer.write(pickle.dumps(results))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
