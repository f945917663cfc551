// GEMM machinery shared by the kernels built on matrix multiplication (linear, batched GEMM,
// conv2d im2col): a general-stride driver over a B matrix packed once, ahead of time.
//
// When B is a constant (the weights of a linear layer or a convolution) it is packed into the
// micro-kernel's panel layout once per instance, for every (jc, pc) block of the loop nest in
// `GEMM.swift`, and each run only packs A. The packed layout, block by block in loop order:
//
//   for jc in n by NC: for pc in k by KC: the KC×NC block as NR-wide panels (packB layout),
//   NC rounded up to NR and zero-padded — roundUp(n, NR)·k floats in total.
//
// `PackedB` can be packed from a row-major k×n B (`ldb`) or from a transposed n×k B (W[out, in]
// of a linear layer: B[p, j] = W[j, p]).
import BenchModel

/// B packed once into the micro-kernel's panel layout for every cache block (see the file header).
final class PackedB {
    /// Micro-kernel path the panels are laid out for.
    let path: GEMMKernelPath
    /// Columns (n) and depth (k) of B.
    let n: Int, k: Int
    /// Block sizes used for packing; `gemmPrepacked` must use the same.
    let kc: Int, nc: Int
    /// The panels.
    let data: UnsafeMutablePointer<Float>
    /// Floats in `data`.
    let count: Int

    /// Packs B for `path`. `transposed` false: B[p, j] = src[p·ld + j] (k×n row-major);
    /// true: B[p, j] = src[j·ld + p] (n×k row-major, i.e. W[out, in]).
    init(path: GEMMKernelPath, n: Int, k: Int, src: UnsafePointer<Float>, ld: Int, transposed: Bool) {
        self.path = path
        self.n = n
        self.k = k
        let bl = GEMMBlocking(path: path, m: 1, n: n, k: k)
        kc = bl.kc
        nc = bl.nc
        let nr = bl.nr
        count = (n + nr - 1) / nr * nr * k
        data = allocateFloats(count)
        var offset = 0
        var jc = 0
        while jc < n {
            let ncb = min(nc, n - jc)
            let ncr = (ncb + nr - 1) / nr * nr
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                let dst = data + offset
                if transposed {
                    packBTransposed(nr: nr, kc: kcb, nc: ncb, src: src + jc * ld + pc, ld: ld, dst: dst)
                } else {
                    switch path {
                    case .avx512: packB(AVX512Kernel.self, kc: kcb, nc: ncb, src: src + pc * ld + jc, ldb: ld, dst: dst)
                    case .avx2: packB(AVX2Kernel.self, kc: kcb, nc: ncb, src: src + pc * ld + jc, ldb: ld, dst: dst)
                    case .sse: packB(SSEKernel.self, kc: kcb, nc: ncb, src: src + pc * ld + jc, ldb: ld, dst: dst)
                    }
                }
                offset += kcb * ncr
                pc += kcb
            }
            jc += ncb
        }
        precondition(offset == count, "packed B size mismatch")
    }

    deinit { freeFloats(data) }
}

/// Packs the transposed source W[j, p] (row stride `ld`) as B[p, j] into nr-wide panels of the
/// `packB` layout; columns past `nc` are zero.
func packBTransposed(nr: Int, kc: Int, nc: Int, src: UnsafePointer<Float>, ld: Int, dst: UnsafeMutablePointer<Float>) {
    var j0 = 0
    var out = dst
    while j0 < nc {
        let cols = min(nr, nc - j0)
        for p in 0..<kc {
            let o = out + p * nr
            for j in 0..<cols { o[j] = src[(j0 + j) * ld + p] }
            for j in cols..<nr { o[j] = 0 }
        }
        out += nr * kc
        j0 += nr
    }
}

/// Scratch buffers of one caller of `gemmPrepacked` (A block and edge tile), sized for at most `maxM` rows.
final class GEMMScratch {
    /// Blocking for the largest m this scratch serves.
    let blocking: GEMMBlocking
    /// Packed A block.
    let aPack: UnsafeMutablePointer<Float>
    /// One micro-tile for edge tiles.
    let tile: UnsafeMutablePointer<Float>

    init(path: GEMMKernelPath, maxM: Int, n: Int, k: Int) {
        blocking = GEMMBlocking(path: path, m: maxM, n: n, k: k)
        aPack = allocateFloats(blocking.aPackCount)
        tile = allocateFloats(blocking.mr * blocking.nr)
    }

    deinit {
        freeFloats(aPack)
        freeFloats(tile)
    }
}

/// C[m×n] (+)= A[m×k] · B with B prepacked; A row stride `lda`, C row stride `ldc`.
/// `accumulate` true adds to C's current contents (e.g. a bias pre-filled by the caller).
/// `m` must not exceed the `maxM` the scratch was made for.
func gemmPrepacked(m: Int, a: UnsafePointer<Float>, lda: Int, b: PackedB, c: UnsafeMutablePointer<Float>, ldc: Int,
                   accumulate: Bool, scratch: GEMMScratch) {
    switch b.path {
    case .avx512: gemmPrepackedBlocked(AVX512Kernel.self, m: m, a: a, lda: lda, b: b, c: c, ldc: ldc,
                                       accumulate: accumulate, scratch: scratch)
    case .avx2: gemmPrepackedBlocked(AVX2Kernel.self, m: m, a: a, lda: lda, b: b, c: c, ldc: ldc,
                                     accumulate: accumulate, scratch: scratch)
    case .sse: gemmPrepackedBlocked(SSEKernel.self, m: m, a: a, lda: lda, b: b, c: c, ldc: ldc,
                                    accumulate: accumulate, scratch: scratch)
    }
}

/// The blocked loop nest of `gemmBlocked` over a prepacked B, with general strides.
@inline(__always)
func gemmPrepackedBlocked<K: MicroKernel>(_: K.Type, m: Int, a: UnsafePointer<Float>, lda: Int, b: PackedB,
                                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
                                          scratch: GEMMScratch) {
    let mr = K.mr, nr = K.nr
    let n = b.n, k = b.k
    let mcMax = scratch.blocking.mc
    precondition(scratch.blocking.kc >= min(b.kc, k), "scratch blocking does not match the packed B")
    var offset = 0
    var jc = 0
    while jc < n {
        let nc = min(b.nc, n - jc)
        let ncr = (nc + nr - 1) / nr * nr
        var pc = 0
        while pc < k {
            let kc = min(b.kc, k - pc)
            let add = accumulate || pc > 0
            let bBlock = b.data + offset
            offset += kc * ncr
            var ic = 0
            while ic < m {
                let mc = min(mcMax, m - ic)
                packA(K.self, mc: mc, kc: kc, src: a + ic * lda + pc, lda: lda, dst: scratch.aPack)
                var jr = 0
                while jr < nc {
                    let cols = min(nr, nc - jr)
                    let bPanel = UnsafePointer(bBlock + jr * kc)
                    var ir = 0
                    while ir < mc {
                        let rows = min(mr, mc - ir)
                        let aPanel = UnsafePointer(scratch.aPack + ir * kc)
                        let cTile = c + (ic + ir) * ldc + jc + jr
                        if rows == mr && cols == nr {
                            K.compute(kc, aPanel, bPanel, cTile, ldc, add)
                        } else {
                            K.compute(kc, aPanel, bPanel, scratch.tile, nr, false)
                            for i in 0..<rows {
                                let src = scratch.tile + i * nr, dst = cTile + i * ldc
                                if add {
                                    for j in 0..<cols { dst[j] += src[j] }
                                } else {
                                    for j in 0..<cols { dst[j] = src[j] }
                                }
                            }
                        }
                        ir += mr
                    }
                    jr += nr
                }
                ic += mc
            }
            pc += kc
        }
        jc += nc
    }
}
