import numpy as np
import numpy.typing as npt

def rolling_median_mad(x: npt.NDArray[np.float64], window: int, center: bool, min_periods: int,
                       median_out: npt.NDArray[np.float64], mad_out: npt.NDArray[np.float64]) -> int: ...
