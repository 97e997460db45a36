import pandas as pd
import pytest

import scaling_lab as sl


@pytest.fixture
def standard_runs() -> pd.DataFrame:
    """The standard design on the Chinchilla surface: five budgets, 15 runs, ±8×."""
    return sl.sample_isoflops(sl.SURFACES["chinchilla"])
