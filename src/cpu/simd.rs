//! Runs a closure compiled for the widest vector instructions this CPU has (AVX-512, AVX2,
//! else the build's baseline: SSE2, or simd128 in wasm), so that the loops inlined into it
//! are vectorized that wide. Vector instructions compute each lane's add, multiply, divide
//! and square root exactly as the scalar ones do, and fused multiply-add is never enabled,
//! so the numbers do not depend on which copy runs.

/// `f()` in a copy compiled for the best instruction set available (see the module).
/// Mark the closure `#[inline(always)]` so its body is compiled into that copy.
#[inline(always)]
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { avx2(f) };
        }
    }
    f()
}
