import numpy as np
import numpy.typing as npt

def replay_l2(msg_start: npt.NDArray[np.int64], mode: npt.NDArray[np.int8], side: npt.NDArray[np.int8],
              level: npt.NDArray[np.int64], qty: npt.NDArray[np.float64], bid_book: npt.NDArray[np.float64],
              ask_book: npt.NDArray[np.float64], bid_level: npt.NDArray[np.int64], ask_level: npt.NDArray[np.int64],
              bid_qty: npt.NDArray[np.float64], ask_qty: npt.NDArray[np.float64], crossed: npt.NDArray[np.int8],
              bad_row: npt.NDArray[np.int64]) -> int: ...
