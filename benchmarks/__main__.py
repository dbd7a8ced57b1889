"""Run every benchmark: ``python -m benchmarks`` (add ``--help`` for options)."""

from __future__ import annotations

import sys

from benchmarks import model_async, server_bench

if __name__ == "__main__":
    print("== server: echo-model beside the bare limit and LangServe peers ==")
    server_bench.main()
    print("\n== model: native async beside the guide's thread-pool async ==")
    sys.argv = sys.argv[:1]
    model_async.main()
