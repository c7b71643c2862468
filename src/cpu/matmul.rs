//! Matrix products on the CPU, shared by both labs (the linear lab's hot loop and the
//! transformer's layers).

/// out (m×n) = a (m×k) · b (k×n), all row-major.
///
/// The output is computed in register blocks of R rows × W columns held in local arrays
/// across the whole k loop, so the compiler keeps them in SIMD registers (wasm simd128,
/// SSE or AVX) and each loaded row of b serves R rows of a. Blocks of 16, 8, 4 and 1
/// columns cover any n without a slow remainder loop. No fused multiply-add is used, so
/// every build (native with or without AVX2, wasm) computes bit-identical sums.
/// This is the linear lab's hot loop: it is what makes a recompute follow a slider.
pub fn matmul(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    matmul_dispatch::<false>(out, a, b, m, k, n)
}

/// out (m×n) = aᵀ · b with a stored row-major as k×m: no transposed copy is made.
pub fn matmul_tn(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    matmul_dispatch::<true>(out, a, b, m, k, n)
}

fn matmul_dispatch<const TA: bool>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert!(out.len() == m * n && a.len() == m * k && b.len() == k * n);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports the feature this copy is compiled for.
        return unsafe { matmul_avx2::<TA>(out, a, b, m, k, n) };
    }
    matmul_blocks::<TA>(out, a, b, m, k, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matmul_avx2<const TA: bool>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    matmul_blocks::<TA>(out, a, b, m, k, n)
}

#[inline(always)]
fn matmul_blocks<const TA: bool>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    let mut i = 0;
    while i + 2 <= m {
        matmul_rows::<TA, 2>(out, a, b, i, m, k, n);
        i += 2;
    }
    if i < m {
        matmul_rows::<TA, 1>(out, a, b, i, m, k, n);
    }
}

/// R rows of the output, starting at row i0, in column blocks of 16, 8, 4 and 1.
#[inline(always)]
fn matmul_rows<const TA: bool, const R: usize>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    i0: usize,
    m: usize,
    k: usize,
    n: usize,
) {
    let mut j = 0;
    while j + 16 <= n {
        matmul_block::<TA, R, 16>(out, a, b, i0, j, m, k, n);
        j += 16;
    }
    if j + 8 <= n {
        matmul_block::<TA, R, 8>(out, a, b, i0, j, m, k, n);
        j += 8;
    }
    if j + 4 <= n {
        matmul_block::<TA, R, 4>(out, a, b, i0, j, m, k, n);
        j += 4;
    }
    while j < n {
        matmul_block::<TA, R, 1>(out, a, b, i0, j, m, k, n);
        j += 1;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matmul_block<const TA: bool, const R: usize, const W: usize>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    i0: usize,
    j0: usize,
    m: usize,
    k: usize,
    n: usize,
) {
    let mut acc = [[0.0f32; W]; R];
    for p in 0..k {
        let b_block: &[f32; W] = b[p * n + j0..p * n + j0 + W].try_into().unwrap();
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let a_rp = if TA {
                a[p * m + i0 + r]
            } else {
                a[(i0 + r) * k + p]
            };
            for t in 0..W {
                acc_r[t] += a_rp * b_block[t];
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        out[(i0 + r) * n + j0..(i0 + r) * n + j0 + W].copy_from_slice(acc_r);
    }
}

/// out (n×m) = aᵀ, for a row-major m×n.
pub fn transpose(out: &mut [f32], a: &[f32], m: usize, n: usize) {
    for i in 0..m {
        for j in 0..n {
            out[j * m + i] = a[i * n + j];
        }
    }
}
