// See csignflip.h.
#include "csignflip.h"
#include <math.h>
#include <stdlib.h>

double fb_studentized_trimmed_mean(const double *s, int n, int k) {
    const int h = n - 2 * k;
    double sum = 0;
    for (int i = k; i < n - k; i++) sum += s[i];
    const double mean = sum / h;
    const double lo = s[k], hi = s[n - 1 - k];
    const double wm = (sum + k * (lo + hi)) / n;
    double ss = k * ((lo - wm) * (lo - wm) + (hi - wm) * (hi - wm));
    for (int i = k; i < n - k; i++) ss += (s[i] - wm) * (s[i] - wm);
    const double se = sqrt(ss / (n - 1)) / ((double)h / n * sqrt((double)n));
    if (!(se > 0)) return mean > 0 ? INFINITY : (mean < 0 ? -INFINITY : 0);
    return mean / se;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/// The statistic of the next flip; `words` holds (n + 63) / 64 sign words.
static double next_flip(const double *magnitudes, int n, int k, int sum, uint64_t *state, uint64_t *words, double *scratch) {
    for (int i = 0; i < (n + 63) / 64; i++) words[i] = splitmix64(state);
    if (sum) {
        double t = 0;
        for (int i = 0; i < n; i++) t += ((words[i >> 6] >> (i & 63)) & 1) ? magnitudes[i] : -magnitudes[i];
        return t;
    }
    // Ascending without a sort: the negated values in descending order of magnitude, then the kept ones.
    int j = 0;
    for (int i = n - 1; i >= 0; i--)
        if (!((words[i >> 6] >> (i & 63)) & 1)) scratch[j++] = -magnitudes[i];
    for (int i = 0; i < n; i++)
        if ((words[i >> 6] >> (i & 63)) & 1) scratch[j++] = magnitudes[i];
    return fb_studentized_trimmed_mean(scratch, n, k);
}

long fb_signflip_count(const double *magnitudes, int n, int k, int sum, uint64_t seed, long max_flips,
                       double observed, double tolerance, int greater, long stop_after,
                       long *done, double *scratch) {
    uint64_t *words = malloc(sizeof(uint64_t) * (size_t)((n + 63) / 64));
    uint64_t state = seed;
    long hits = 0, f = 0;
    if (words) {
        while (f < max_flips) {
            const double t = next_flip(magnitudes, n, k, sum, &state, words, scratch);
            f++;
            if (greater ? t >= observed - tolerance : t <= observed + tolerance) {
                hits++;
                if (stop_after > 0 && hits >= stop_after) break;
            }
        }
        free(words);
    }
    *done = f;
    return hits;
}
