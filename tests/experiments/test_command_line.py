"""experiments.command_line: the results table."""

import numpy as np

from experiments.command_line import median_table


def test_median_table():
    table = median_table({"he": np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])}, [10, 20],
                         reference={"he": 3.18})
    lines = table.splitlines()
    assert lines[0] == "| method | step 10 | step 20 | paper |"
    assert lines[2] == "| He | 3.00 | 4.00 | 3.18 |"
