//! Matrix products on the CPU, shared by both labs (the linear lab's hot loop and the
//! transformer's layers).
//!
//! Every output element is one dot product accumulated over k in order, starting from 0,
//! with separate multiplies and adds (no fused multiply-add), so every build (native with
//! AVX-512, AVX2 or neither, wasm simd128) computes bit-identical sums; only the register
//! blocking over m and n, which does not touch any element's arithmetic, depends on the
//! instruction set.

use super::par;

/// out (m×n) = a (m×k) · b (k×n), all row-major.
///
/// The output is computed in register blocks of R rows × W columns held in local arrays
/// across the whole k loop, so the compiler keeps them in SIMD registers (wasm simd128,
/// SSE, AVX2 or AVX-512) and each loaded row of b serves R rows of a. Blocks of 32 (AVX-512),
/// 16, 8, 4 and 1 columns cover any n without a slow remainder loop.
/// This is the linear lab's hot loop: it is what makes a recompute follow a slider.
///
/// Large products are split by output rows over the cores [`super::par`] allows; every
/// element is the same sum either way.
#[inline(never)]
pub fn matmul(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    assert!(out.len() == m * n && a.len() == m * k && b.len() == k * n);
    par::rows(out, n, k * n, |i0, part| {
        let rows = part.len() / n;
        matmul_dispatch::<false, false>(part, &a[i0 * k..][..rows * k], b, rows, k, n, k)
    })
}

/// out (m×n) = aᵀ · b with a stored row-major as k×m: no transposed copy is made.
#[inline(never)]
pub fn matmul_tn(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    matmul_tn_parts::<false>(out, a, b, m, k, n)
}

/// out (m×n) += aᵀ · b with a stored as k×m (the weight gradient of a linear layer): each
/// element gets `out + (aᵀ·b)`, the product's sum formed first exactly as [`matmul_tn`]
/// forms it.
#[inline(never)]
pub fn matmul_tn_acc(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    matmul_tn_parts::<true>(out, a, b, m, k, n)
}

/// aᵀ·b split by output rows: a part of rows i0.. reads columns i0.. of a in place (its rows
/// `m` apart), so the kernel sees the same values at the same steps of each sum.
fn matmul_tn_parts<const ACC: bool>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert!(out.len() == m * n && a.len() == m * k && b.len() == k * n);
    par::rows(out, n, k * n, |i0, part| {
        let rows = part.len() / n;
        matmul_dispatch::<true, ACC>(part, &a[i0..], b, rows, k, n, m)
    })
}

/// `lda`: the distance between a's rows in `a` (k, or m when TA; more when `a` is part of a
/// wider matrix, as a split aᵀ·b's columns are).
#[allow(clippy::too_many_arguments)]
fn matmul_dispatch<const TA: bool, const ACC: bool>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    lda: usize,
) {
    check_shapes::<TA>(out, a, b, m, k, n, lda);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature; the shapes were checked above.
            return unsafe { x86::matmul_avx512::<TA, ACC>(out, a, b, m, k, n, lda) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { x86::matmul_avx2::<TA, ACC>(out, a, b, m, k, n, lda) };
        }
    }
    // SSE2 and wasm simd128 (16 vector registers of 4 lanes): blocks of 2 rows × 16
    // columns in local arrays that the compiler vectorizes.
    matmul_blocks::<TA, ACC>(out, a, b, m, k, n, lda)
}

/// The slices hold the shapes: out m×n, b k×n, and a's m×k (k×m when TA) values at rows
/// `lda` apart.
#[allow(clippy::too_many_arguments)]
fn check_shapes<const TA: bool>(
    out: &[f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    lda: usize,
) {
    let (a_rows, a_cols) = if TA { (k, m) } else { (m, k) };
    assert!(out.len() == m * n && b.len() == k * n && lda >= a_cols);
    assert!(a_rows == 0 || a_cols == 0 || a.len() >= (a_rows - 1) * lda + a_cols);
}

/// The AVX2 and AVX-512 kernels, written with explicit vectors: the same products and sums
/// as [`matmul_block`], in registers whatever the compiler's vectorizer decides.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// A vector of L lanes of f32 (or one f32), with exactly IEEE's add and multiply.
    pub trait Lanes: Copy {
        const L: usize;
        unsafe fn zero() -> Self;
        unsafe fn splat(x: f32) -> Self;
        unsafe fn load(p: *const f32) -> Self;
        unsafe fn store(self, p: *mut f32);
        unsafe fn add(self, o: Self) -> Self;
        unsafe fn mul(self, o: Self) -> Self;
    }

    macro_rules! lanes {
        ($t:ty, $l:expr, $zero:ident, $set1:ident, $add:ident, $mul:ident) => {
            impl Lanes for $t {
                const L: usize = $l;
                #[inline(always)]
                unsafe fn zero() -> Self {
                    $zero()
                }
                #[inline(always)]
                unsafe fn splat(x: f32) -> Self {
                    $set1(x)
                }
                // Plain unaligned moves: the intrinsics would stay calls when inlined
                // through this generic code.
                #[inline(always)]
                unsafe fn load(p: *const f32) -> Self {
                    std::ptr::read_unaligned(p as *const Self)
                }
                #[inline(always)]
                unsafe fn store(self, p: *mut f32) {
                    std::ptr::write_unaligned(p as *mut Self, self)
                }
                #[inline(always)]
                unsafe fn add(self, o: Self) -> Self {
                    $add(self, o)
                }
                #[inline(always)]
                unsafe fn mul(self, o: Self) -> Self {
                    $mul(self, o)
                }
            }
        };
    }
    lanes!(
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_add_ps,
        _mm512_mul_ps
    );
    lanes!(
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_add_ps,
        _mm256_mul_ps
    );
    lanes!(
        __m128,
        4,
        _mm_setzero_ps,
        _mm_set1_ps,
        _mm_add_ps,
        _mm_mul_ps
    );

    impl Lanes for f32 {
        const L: usize = 1;
        #[inline(always)]
        unsafe fn zero() -> Self {
            0.0
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            x
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            *p
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            *p = self
        }
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self {
            self + o
        }
        #[inline(always)]
        unsafe fn mul(self, o: Self) -> Self {
            self * o
        }
    }

    /// Shapes as in `matmul_dispatch`, which checked the slices' lengths.
    #[derive(Clone, Copy)]
    struct Mats {
        out: *mut f32,
        a: *const f32,
        b: *const f32,
        m: usize,
        k: usize,
        n: usize,
        lda: usize,
    }

    /// R rows × NV vectors of the output from (i0, j0): out = Σ_p a[i, p]·b[p, j] in p order
    /// from 0 (then out + that sum when ACC).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    unsafe fn block<V: Lanes, const TA: bool, const ACC: bool, const R: usize, const NV: usize>(
        x: Mats,
        i0: usize,
        j0: usize,
    ) {
        // Index loops over constant bounds only (no iterator adapters, which are not always
        // inlined into this target-feature code).
        let mut acc = [[V::zero(); NV]; R];
        for p in 0..x.k {
            let bp = x.b.add(p * x.n + j0);
            let mut bv = [V::zero(); NV];
            for v in 0..NV {
                bv[v] = V::load(bp.add(v * V::L));
            }
            for r in 0..R {
                let a_rp = V::splat(if TA {
                    *x.a.add(p * x.lda + i0 + r)
                } else {
                    *x.a.add((i0 + r) * x.lda + p)
                });
                for v in 0..NV {
                    acc[r][v] = acc[r][v].add(a_rp.mul(bv[v]));
                }
            }
        }
        for r in 0..R {
            let o = x.out.add((i0 + r) * x.n + j0);
            for v in 0..NV {
                let o = o.add(v * V::L);
                if ACC {
                    V::load(o).add(acc[r][v]).store(o);
                } else {
                    acc[r][v].store(o);
                }
            }
        }
    }

    /// R rows from i0: columns in blocks of NV vectors of V, then one V, then the narrower
    /// vectors H (half of V) and Q (half of H), then single columns.
    #[inline(always)]
    unsafe fn rows<
        V: Lanes,
        H: Lanes,
        Q: Lanes,
        const TA: bool,
        const ACC: bool,
        const R: usize,
        const NV: usize,
    >(
        x: Mats,
        i0: usize,
    ) {
        let mut j = 0;
        while j + NV * V::L <= x.n {
            block::<V, TA, ACC, R, NV>(x, i0, j);
            j += NV * V::L;
        }
        if NV > 1 && j + V::L <= x.n {
            block::<V, TA, ACC, R, 1>(x, i0, j);
            j += V::L;
        }
        if j + H::L <= x.n {
            block::<H, TA, ACC, R, 1>(x, i0, j);
            j += H::L;
        }
        if Q::L < H::L && j + Q::L <= x.n {
            block::<Q, TA, ACC, R, 1>(x, i0, j);
            j += Q::L;
        }
        while j < x.n {
            block::<f32, TA, ACC, R, 1>(x, i0, j);
            j += 1;
        }
    }

    /// Rows in blocks of R, then 4, 2 and 1.
    #[inline(always)]
    unsafe fn all<
        V: Lanes,
        H: Lanes,
        Q: Lanes,
        const TA: bool,
        const ACC: bool,
        const R: usize,
        const NV: usize,
    >(
        x: Mats,
    ) {
        let mut i = 0;
        while i + R <= x.m {
            rows::<V, H, Q, TA, ACC, R, NV>(x, i);
            i += R;
        }
        if R > 4 && i + 4 <= x.m {
            rows::<V, H, Q, TA, ACC, 4, NV>(x, i);
            i += 4;
        }
        if R > 2 && i + 2 <= x.m {
            rows::<V, H, Q, TA, ACC, 2, NV>(x, i);
            i += 2;
        }
        while i < x.m {
            rows::<V, H, Q, TA, ACC, 1, NV>(x, i);
            i += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mats<const TA: bool>(
        out: &mut [f32],
        a: &[f32],
        b: &[f32],
        m: usize,
        k: usize,
        n: usize,
        lda: usize,
    ) -> Mats {
        crate::matmul::check_shapes::<TA>(out, a, b, m, k, n, lda);
        Mats {
            out: out.as_mut_ptr(),
            a: a.as_ptr(),
            b: b.as_ptr(),
            m,
            k,
            n,
            lda,
        }
    }

    /// 32 registers of 16 lanes: blocks of 8 rows × 32 columns (16 accumulators).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn matmul_avx512<const TA: bool, const ACC: bool>(
        out: &mut [f32],
        a: &[f32],
        b: &[f32],
        m: usize,
        k: usize,
        n: usize,
        lda: usize,
    ) {
        all::<__m512, __m256, __m128, TA, ACC, 8, 2>(mats::<TA>(out, a, b, m, k, n, lda))
    }

    /// 16 registers of 8 lanes: blocks of 4 rows × 16 columns (8 accumulators).
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn matmul_avx2<const TA: bool, const ACC: bool>(
        out: &mut [f32],
        a: &[f32],
        b: &[f32],
        m: usize,
        k: usize,
        n: usize,
        lda: usize,
    ) {
        all::<__m256, __m128, __m128, TA, ACC, 4, 2>(mats::<TA>(out, a, b, m, k, n, lda))
    }
}

/// The portable kernel: rows in blocks of 2 (then 1 for an odd last row), each in column
/// blocks of 16, then 8, 4 and 1.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matmul_blocks<const TA: bool, const ACC: bool>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    lda: usize,
) {
    let mut i = 0;
    while i + 2 <= m {
        matmul_rows::<TA, ACC, 2>(out, a, b, i, lda, k, n);
        i += 2;
    }
    if i < m {
        matmul_rows::<TA, ACC, 1>(out, a, b, i, lda, k, n);
    }
}

/// R rows of the output, starting at row i0, in column blocks of 16, then 8, 4 and 1.
#[inline(always)]
fn matmul_rows<const TA: bool, const ACC: bool, const R: usize>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    i0: usize,
    lda: usize,
    k: usize,
    n: usize,
) {
    let mut j = 0;
    while j + 16 <= n {
        matmul_block::<TA, ACC, R, 16>(out, a, b, i0, j, lda, k, n);
        j += 16;
    }
    if j + 8 <= n {
        matmul_block::<TA, ACC, R, 8>(out, a, b, i0, j, lda, k, n);
        j += 8;
    }
    if j + 4 <= n {
        matmul_block::<TA, ACC, R, 4>(out, a, b, i0, j, lda, k, n);
        j += 4;
    }
    while j < n {
        matmul_block::<TA, ACC, R, 1>(out, a, b, i0, j, lda, k, n);
        j += 1;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matmul_block<const TA: bool, const ACC: bool, const R: usize, const W: usize>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    i0: usize,
    j0: usize,
    lda: usize,
    k: usize,
    n: usize,
) {
    let mut acc = [[0.0f32; W]; R];
    for p in 0..k {
        let b_block: &[f32; W] = b[p * n + j0..p * n + j0 + W].try_into().unwrap();
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let a_rp = if TA {
                a[p * lda + i0 + r]
            } else {
                a[(i0 + r) * lda + p]
            };
            for t in 0..W {
                acc_r[t] += a_rp * b_block[t];
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let o = &mut out[(i0 + r) * n + j0..(i0 + r) * n + j0 + W];
        if ACC {
            for (o, a) in o.iter_mut().zip(acc_r) {
                *o += a;
            }
        } else {
            o.copy_from_slice(acc_r);
        }
    }
}

/// out (n×m) = aᵀ, for a row-major m×n.
#[inline(never)]
pub fn transpose(out: &mut [f32], a: &[f32], m: usize, n: usize) {
    assert!(out.len() == m * n && a.len() == m * n);
    for (i, row) in a.chunks_exact(n).enumerate() {
        for (j, &x) in row.iter().enumerate() {
            out[j * m + i] = x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU can run gives the same bits as the portable one, for shapes
    /// that exercise every block size and remainder.
    #[test]
    fn every_kernel_gives_the_same_bits() {
        let mut seed = 1u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(m, k, n) in &[
            (37, 29, 75),
            (64, 32, 96),
            (9, 130, 33),
            (1, 1, 1),
            (8, 0, 3),
            (21, 7, 49),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let base: Vec<f32> = (0..m * n).map(|_| next()).collect();
            let run = |kernel: &dyn Fn(&mut [f32])| {
                let mut out = base.clone();
                kernel(&mut out);
                out.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            };
            macro_rules! all_kernels {
                ($ta:literal, $acc:literal) => {{
                    let lda = if $ta { m } else { k };
                    let want = run(&|o| matmul_blocks::<$ta, $acc>(o, &a, &b, m, k, n, lda));
                    #[cfg(target_arch = "x86_64")]
                    {
                        if std::arch::is_x86_feature_detected!("avx2") {
                            let got = run(&|o| unsafe {
                                x86::matmul_avx2::<$ta, $acc>(o, &a, &b, m, k, n, lda)
                            });
                            assert_eq!(got, want, "avx2 {m}×{k}×{n}");
                        }
                        if std::arch::is_x86_feature_detected!("avx512f") {
                            let got = run(&|o| unsafe {
                                x86::matmul_avx512::<$ta, $acc>(o, &a, &b, m, k, n, lda)
                            });
                            assert_eq!(got, want, "avx512 {m}×{k}×{n}");
                        }
                    }
                }};
            }
            all_kernels!(false, false);
            all_kernels!(true, false);
            all_kernels!(false, true);
            all_kernels!(true, true);
        }
    }

    /// aᵀ·b over a block of columns of a wider a, read in place (rows `lda` apart, as a
    /// split product reads them), gives the bits of the same columns copied out.
    #[test]
    fn a_part_of_a_wider_a_gives_the_bits_of_its_copy() {
        let (m, k, n, wide, from) = (11, 37, 40, 19, 5);
        let a: Vec<f32> = (0..k * wide)
            .map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104_729) % 1000) as f32 / 991.0 - 0.5)
            .collect();
        let copy: Vec<f32> = (0..k)
            .flat_map(|p| a[p * wide + from..][..m].to_vec())
            .collect();
        let bits = |o: &[f32]| o.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut want = vec![0.0; m * n];
        matmul_dispatch::<true, false>(&mut want, &copy, &b, m, k, n, m);
        let mut got = vec![0.0; m * n];
        matmul_dispatch::<true, false>(&mut got, &a[from..], &b, m, k, n, wide);
        assert_eq!(bits(&got), bits(&want));
        let mut portable = vec![0.0; m * n];
        matmul_blocks::<true, false>(&mut portable, &a[from..], &b, m, k, n, wide);
        assert_eq!(bits(&portable), bits(&want));
    }
}
