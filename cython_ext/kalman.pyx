# cython: language_level=3
"""Kalman filter and smoother of a dynamic hedge ratio: state [beta, alpha] as a random walk,
y_t = beta_t x_t + alpha_t + e_t.

Compiled twins of `statarb.alpha.kalman.kalman_filter_py` and `kalman_smoother_py` (same signatures, same arithmetic
in the same order, so the same results to the bit). The observation is a scalar, so the update needs no matrix inverse: the innovation
variance S_t = H P H' + R is a number and the gain is P H' / S_t. A step whose y or x is NaN is predicted through
(no update, log-likelihood contribution 0), as pykalman does with masked observations.
Directives (boundscheck, wraparound, cdivision) are set once, in setup.py.
"""
from libc.math cimport isnan, log, NAN, INFINITY

# status codes; the Python wrapper turns them into exceptions
cdef enum:
    OK = 0
    BAD_LENGTH = 1            # x or an output array does not have the length of y
    BAD_INNOVATION_VAR = 2    # S_t <= 0 or not finite (the step's S_t is left in innovation_var_out)
    SINGULAR_PREDICTION = 3   # the smoother met a singular predicted covariance

cdef double LOG_2PI = 1.8378770664093453    # math.log(2 * math.pi), the same double as in the Python twin


def kalman_filter(const double[::1] y, const double[::1] x, const double[:, ::1] transition_covariance,
                  double observation_covariance, const double[::1] initial_state_mean,
                  const double[:, ::1] initial_state_covariance, double[:, ::1] state_means_out,
                  double[:, :, ::1] state_covs_out, double[::1] innovation_out, double[::1] innovation_var_out,
                  double[::1] loglik_out):
    """Filter y on x; fill the filtered state means (n, 2), covariances (n, 2, 2), innovations, their variances and
    the per-step log-likelihoods. Returns a status code (0 = success; 2 = non-positive innovation variance, the
    failing step being the last one written)."""
    cdef Py_ssize_t n = y.shape[0], t
    if (x.shape[0] != n or state_means_out.shape[0] != n or state_covs_out.shape[0] != n
            or innovation_out.shape[0] != n or innovation_var_out.shape[0] != n or loglik_out.shape[0] != n):
        return BAD_LENGTH
    cdef double q00 = transition_covariance[0, 0], q01 = transition_covariance[0, 1]
    cdef double q10 = transition_covariance[1, 0], q11 = transition_covariance[1, 1]
    cdef double r = observation_covariance
    cdef double b = initial_state_mean[0], a = initial_state_mean[1]
    cdef double p00 = initial_state_covariance[0, 0], p01 = initial_state_covariance[0, 1]
    cdef double p10 = initial_state_covariance[1, 0], p11 = initial_state_covariance[1, 1]
    cdef double yt, xt, e, s, hp0, hp1, k0, k1
    cdef int status = OK
    with nogil:
        for t in range(n):
            if t > 0:                       # predict: random walk, P <- P + Q (the first step uses the prior as is)
                p00 = p00 + q00
                p01 = p01 + q01
                p10 = p10 + q10
                p11 = p11 + q11
            yt = y[t]
            xt = x[t]
            if isnan(yt) or isnan(xt):      # missing observation: predict through it
                innovation_out[t] = NAN
                innovation_var_out[t] = NAN
                loglik_out[t] = 0.0
            else:
                e = yt - (b * xt + a)
                hp0 = xt * p00 + p10        # (H P)_0
                hp1 = xt * p01 + p11        # (H P)_1
                s = hp0 * xt + hp1 + r      # H P H' + R
                innovation_out[t] = e
                innovation_var_out[t] = s
                if not (s > 0.0) or s == INFINITY:
                    status = BAD_INNOVATION_VAR
                    break
                k0 = (p00 * xt + p01) / s   # (P H')_0 / S
                k1 = (p10 * xt + p11) / s
                b = b + k0 * e
                a = a + k1 * e
                p00 = p00 - k0 * hp0
                p01 = p01 - k0 * hp1
                p10 = p10 - k1 * hp0
                p11 = p11 - k1 * hp1
                loglik_out[t] = -0.5 * (LOG_2PI + log(s) + e * e / s)
            state_means_out[t, 0] = b
            state_means_out[t, 1] = a
            state_covs_out[t, 0, 0] = p00
            state_covs_out[t, 0, 1] = p01
            state_covs_out[t, 1, 0] = p10
            state_covs_out[t, 1, 1] = p11
    return status


def kalman_smoother(const double[:, ::1] filtered_means, const double[:, :, ::1] filtered_covs,
                    const double[:, ::1] transition_covariance, double[:, ::1] smoothed_means_out,
                    double[:, :, ::1] smoothed_covs_out, double[:, :, ::1] pairwise_covs_out):
    """Rauch-Tung-Striebel smoother of the random-walk state, backwards from the filtered states: fill the smoothed
    means (n, 2), covariances (n, 2, 2) and the lag-one covariances Cov(s_t, s_{t-1} | all) (n, 2, 2; row 0 is zero),
    as pykalman's `_smooth` and `_smooth_pair` define them. Returns a status (0 = success; 1 = bad lengths;
    3 = a predicted covariance P_{t|t} + Q is singular; the outputs are then incomplete)."""
    cdef Py_ssize_t n = filtered_means.shape[0], t
    if (filtered_covs.shape[0] != n or smoothed_means_out.shape[0] != n or smoothed_covs_out.shape[0] != n
            or pairwise_covs_out.shape[0] != n):
        return BAD_LENGTH
    if n == 0:
        return OK
    cdef double q00 = transition_covariance[0, 0], q01 = transition_covariance[0, 1]
    cdef double q10 = transition_covariance[1, 0], q11 = transition_covariance[1, 1]
    cdef double f00, f01, f10, f11, c00, c01, c10, c11, det, i00, i01, i10, i11
    cdef double j00, j01, j10, j11, d0, d1, e00, e01, e10, e11, g00, g01, g10, g11
    cdef double s00, s01, s10, s11
    cdef int status = OK
    with nogil:
        smoothed_means_out[n - 1, 0] = filtered_means[n - 1, 0]
        smoothed_means_out[n - 1, 1] = filtered_means[n - 1, 1]
        s00 = filtered_covs[n - 1, 0, 0]
        s01 = filtered_covs[n - 1, 0, 1]
        s10 = filtered_covs[n - 1, 1, 0]
        s11 = filtered_covs[n - 1, 1, 1]
        smoothed_covs_out[n - 1, 0, 0] = s00
        smoothed_covs_out[n - 1, 0, 1] = s01
        smoothed_covs_out[n - 1, 1, 0] = s10
        smoothed_covs_out[n - 1, 1, 1] = s11
        pairwise_covs_out[0, 0, 0] = 0.0
        pairwise_covs_out[0, 0, 1] = 0.0
        pairwise_covs_out[0, 1, 0] = 0.0
        pairwise_covs_out[0, 1, 1] = 0.0
        for t in range(n - 2, -1, -1):
            f00 = filtered_covs[t, 0, 0]
            f01 = filtered_covs[t, 0, 1]
            f10 = filtered_covs[t, 1, 0]
            f11 = filtered_covs[t, 1, 1]
            c00 = f00 + q00                 # predicted covariance of s_{t+1}: P_{t|t} + Q
            c01 = f01 + q01
            c10 = f10 + q10
            c11 = f11 + q11
            det = c00 * c11 - c01 * c10
            if not (det != 0.0):
                status = SINGULAR_PREDICTION
                break
            i00 = c11 / det                 # inverse of the predicted covariance
            i01 = -c01 / det
            i10 = -c10 / det
            i11 = c00 / det
            j00 = f00 * i00 + f01 * i10     # smoother gain J = P_{t|t} (P_{t|t} + Q)^-1
            j01 = f00 * i01 + f01 * i11
            j10 = f10 * i00 + f11 * i10
            j11 = f10 * i01 + f11 * i11
            d0 = smoothed_means_out[t + 1, 0] - filtered_means[t, 0]    # the predicted mean is the filtered one
            d1 = smoothed_means_out[t + 1, 1] - filtered_means[t, 1]
            smoothed_means_out[t, 0] = filtered_means[t, 0] + (j00 * d0 + j01 * d1)
            smoothed_means_out[t, 1] = filtered_means[t, 1] + (j10 * d0 + j11 * d1)
            e00 = s00 - c00                 # P^s_{t+1} - P_{t+1|t}
            e01 = s01 - c01
            e10 = s10 - c10
            e11 = s11 - c11
            g00 = j00 * e00 + j01 * e10     # J (P^s_{t+1} - P_{t+1|t})
            g01 = j00 * e01 + j01 * e11
            g10 = j10 * e00 + j11 * e10
            g11 = j10 * e01 + j11 * e11
            pairwise_covs_out[t + 1, 0, 0] = s00 * j00 + s01 * j01      # P^s_{t+1} J'
            pairwise_covs_out[t + 1, 0, 1] = s00 * j10 + s01 * j11
            pairwise_covs_out[t + 1, 1, 0] = s10 * j00 + s11 * j01
            pairwise_covs_out[t + 1, 1, 1] = s10 * j10 + s11 * j11
            s00 = f00 + (g00 * j00 + g01 * j01)                         # P_{t|t} + J (...) J'
            s01 = f01 + (g00 * j10 + g01 * j11)
            s10 = f10 + (g10 * j00 + g11 * j01)
            s11 = f11 + (g10 * j10 + g11 * j11)
            smoothed_covs_out[t, 0, 0] = s00
            smoothed_covs_out[t, 0, 1] = s01
            smoothed_covs_out[t, 1, 0] = s10
            smoothed_covs_out[t, 1, 1] = s11
    return status
