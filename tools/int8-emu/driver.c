// Driver of tools/check-int8-vnni-emulated: appended to a copy of qgemm.c built with emu.h; runs the
// VNNI kernel (emulated intrinsics) and the scalar kernel on random data, all epilogue modes, and
// requires identical outputs.
#include <stdio.h>
#include <stdlib.h>
static uint64_t st = 88172645463325252ull;
static uint64_t rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return st; }
int main(void) {
    int64_t shapes[][3] = {{1,1,1},{1,10,64},{1,128,64},{1,200,5},{1,33,7},{2,4,33},{3,5,31},{4,32,4},{5,13,100},{7,10,64},{9,33,7},{13,70,130},{6,17,3},{37,128,64},{11,64,128},{8,48,67},{539,10,64},{539,128,64},{300,160,64},{64,96,512}};
    int bad = 0, runs = 0;
    for (unsigned si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
        int8_t *a = malloc(m*k), *w = malloc(n*k), *pk = malloc(fb_qgemm_packed_size(n,k));
        int32_t *corr = malloc(4*n), *c1 = malloc(4*m*n), *c2 = malloc(4*m*n);
        float *sc = malloc(4*n), *bi = malloc(4*n), *f1 = malloc(4*m*n), *f2 = malloc(4*m*n);
        int8_t *q1 = malloc(m*n), *q2 = malloc(m*n);
        for (int64_t i = 0; i < m*k; i++) a[i] = (int8_t)((int)(rnd() % 255) - 127);
        for (int64_t i = 0; i < n*k; i++) w[i] = (int8_t)((int)(rnd() % 255) - 127);
        for (int64_t j = 0; j < n; j++) { sc[j] = (float)(1 + rnd() % 1000) * 1e-6f; bi[j] = (float)((int)(rnd() % 2001) - 1000) * 1e-3f; }
        fb_qgemm_pack(w, n, k, pk, corr);
        for (int mode = 0; mode < 3; mode++) for (int relu = 0; relu < 2; relu++) {
            fb_job J = {a, m, k, n, pk, corr, mode, sc, bi, 60.0f, relu, c1, q1, f1};
            fb_job K = J; K.out_i = c2; K.out_q = q2; K.out_f = f2;
            memset(c1, 0x55, 4*m*n); memset(c2, 0x66, 4*m*n); memset(q1, 0x55, m*n); memset(q2, 0x66, m*n); memset(f1, 0x55, 4*m*n); memset(f2, 0x66, 4*m*n);
            fb_qgemm_kernel_avx512vnni(&J); fb_qgemm_kernel_scalar(&K);
            runs++;
            int ok = mode == 0 ? !memcmp(c1, c2, 4*m*n) : mode == 1 ? !memcmp(q1, q2, m*n) : !memcmp(f1, f2, 4*m*n);
            if (!ok) { bad++; printf("MISMATCH %ldx%ldx%ld mode %d relu %d\n", (long)m, (long)n, (long)k, mode, relu); }
        }
    }
    printf("emulated VNNI vs scalar: %d/%d configurations identical\n", runs - bad, runs);
    return bad != 0;
}
