"""The Monte Carlo sweeps run on a Dask cluster and give the same bits as a serial run.

A ``LocalCluster`` with two worker processes stands in for a real cluster: the tasks,
their conditions and seeds are pickled, shipped to other processes and run there, as on
remote machines. Only the address given to ``Client`` changes for a real cluster (see
book/how-to-run.md).
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster, get_task_stream

from scaling_lab import montecarlo as mc


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,  # no fixed port: tests may run side by side
        scheduler_port=0,
        worker_dashboard_address=None,
    )
    with cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def conditions() -> pd.DataFrame:
    # Noisy studies on two surfaces; the naive Approach 3 fit draws its own start from
    # the condition's random stream, so seeds must reach the workers intact.
    c = mc.conditions_grid(surface=["chinchilla", "asymmetric"], noise=[0.01, 0.03], draw=[0, 1])
    c["n_points"] = 7
    c["methods"] = [("approach2", "vpnls", "approach3/naive")] * len(c)
    return c


def test_sweep_on_dask_workers_is_bit_identical_to_a_serial_run(client, conditions):
    serial = mc.run_sweep(conditions, mc.fit_methods_task, seed=7, n_jobs=1)
    workers = set(client.scheduler_info()["workers"])
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        on_dask = mc.run_sweep(conditions, mc.fit_methods_task, seed=7)
    # The work really ran on the cluster's workers, not in this process.
    ran_on = {task["worker"] for task in stream.data}
    assert len(workers) == 2 and ran_on and ran_on <= workers, (ran_on, workers)
    assert len(on_dask) == 3 * len(conditions)
    pd.testing.assert_frame_equal(on_dask, serial, check_exact=True)


def test_a_different_seed_on_dask_gives_different_results(client, conditions):
    # The comparison above can fail: results do depend on the seed.
    serial = mc.run_sweep(conditions, mc.fit_methods_task, seed=7, n_jobs=1)
    with joblib.parallel_config(backend="dask"):
        other = mc.run_sweep(conditions, mc.fit_methods_task, seed=8)
    assert not np.allclose(other["a"], serial["a"], equal_nan=True)
