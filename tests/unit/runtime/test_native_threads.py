"""limit_blas_threads, in a fresh interpreter (capping pytest's own pools would change
the tests around it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from streamguard.runtime.native_threads import limit_blas_threads

_CHILD = textwrap.dedent(
    """
    import json
    import numpy as np
    from threadpoolctl import threadpool_info
    from streamguard.runtime.native_threads import limit_blas_threads

    def openblas():
        return [p["num_threads"] for p in threadpool_info() if p["internal_api"] == "openblas"]

    a = np.ones((256, 384))
    before = openblas()
    (a @ a.T).sum()                      # the pool is running
    capped = limit_blas_threads(1)
    product = float((a @ a.T).sum())     # still computes, on one thread
    print(json.dumps({"before": before, "after": openblas(), "capped": capped,
                      "product": product}))
    """
)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS pools have one thread here")
def test_openblas_pools_are_capped_at_one_thread_after_import() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}  # OpenBLAS caps it at the cores
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True
    )
    seen = json.loads(result.stdout)
    assert seen["before"] and all(n == 2 for n in seen["before"])  # numpy ships OpenBLAS
    assert seen["after"] == [1] * len(seen["before"])
    assert len(seen["capped"]) == len(seen["before"])
    assert seen["product"] == 256 * 256 * 384


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        limit_blas_threads(0)
