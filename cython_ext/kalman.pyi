import numpy as np
import numpy.typing as npt

def kalman_filter(y: npt.NDArray[np.float64], x: npt.NDArray[np.float64],
                  transition_covariance: npt.NDArray[np.float64], observation_covariance: float,
                  initial_state_mean: npt.NDArray[np.float64], initial_state_covariance: npt.NDArray[np.float64],
                  state_means_out: npt.NDArray[np.float64], state_covs_out: npt.NDArray[np.float64],
                  innovation_out: npt.NDArray[np.float64], innovation_var_out: npt.NDArray[np.float64],
                  loglik_out: npt.NDArray[np.float64]) -> int: ...

def kalman_smoother(filtered_means: npt.NDArray[np.float64], filtered_covs: npt.NDArray[np.float64],
                    transition_covariance: npt.NDArray[np.float64], smoothed_means_out: npt.NDArray[np.float64],
                    smoothed_covs_out: npt.NDArray[np.float64], pairwise_covs_out: npt.NDArray[np.float64]) -> int: ...
