// The inner loops of Analysis' sign-flip randomization tests (SignFlip.swift): the studentized
// trimmed mean of many random sign flips of one sample. In C, compiled with -O2 in every
// configuration: a gate evaluates up to tens of thousands of flips per op and look, and the Swift
// debug build (the test suite's) runs such loops some 50 times slower.
//
// The statistic of an ascending sample s of n values: its k-trimmed mean over the Tukey–McLaughlin
// standard error s_w / ((h / n) * sqrt(n)), h = n - 2k, s_w the standard deviation of the
// k-winsorized sample; +inf, -inf or 0 when s_w is 0. A flip of `magnitudes` (ascending,
// non-negative) keeps value i positive when bit i of its sign words is set. Sign words come from
// SplitMix64 seeded with `seed`: the same seed gives the same flips. 2 <= n, 0 <= k <= (n - 1) / 2;
// `scratch` holds n doubles.
#ifndef CSIGNFLIP_H
#define CSIGNFLIP_H

#include <stdint.h>

/// The statistic of one ascending sample.
double fb_studentized_trimmed_mean(const double *sorted, int n, int k);

/// Flips (up to `max_flips`) whose statistic is >= observed - tolerance (`greater` != 0) or
/// <= observed + tolerance; stops once `stop_after` (> 0) flips hit. Returns the hits; *done is the
/// number of flips evaluated. The statistic is the studentized trimmed mean above, or with
/// `sum` != 0 the plain sum of the flipped values (the mean's test; k and the order are not used).
long fb_signflip_count(const double *magnitudes, int n, int k, int sum, uint64_t seed, long max_flips,
                       double observed, double tolerance, int greater, long stop_after,
                       long *done, double *scratch);

#endif
