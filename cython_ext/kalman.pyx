# cython: language_level=3
"""Kalman filter of a dynamic hedge ratio: state [beta, alpha] as a random walk, y_t = beta_t x_t + alpha_t + e_t.

Compiled twin of `statarb.alpha.kalman.kalman_filter_py` (same signature, same arithmetic in the same order, so the
same results to the bit). The observation is a scalar, so the update needs no matrix inverse: the innovation
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
