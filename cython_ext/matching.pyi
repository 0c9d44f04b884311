import numpy as np
import numpy.typing as npt

def run_pairs(open_: npt.NDArray[np.float64], close: npt.NDArray[np.float64], volume: npt.NDArray[np.float64],
              ts: npt.NDArray[np.int64], pairs: npt.NDArray[np.int64], sym_order: npt.NDArray[np.int64],
              bs_ptr: npt.NDArray[np.int64], bs_idx: npt.NDArray[np.int64], kalman: npt.NDArray[np.float64],
              window: int, entry: float, exit_: float, stop: float, notional: float, lot: float,
              half_spread_bps: float, slippage_bps: float, fee_per_share: float, fee_bps: float, fee_min: float,
              participation: float, borrow: npt.NDArray[np.float64], cash_rate: float, initial_cash: float,
              entry_latency: int, *arrays: npt.NDArray) -> int: ...
