//! The kernels both labs use, one thin wrapper each: check shapes and limits, write the
//! parameters, record the dispatch (nothing is submitted here; see [`super::Recorder`]).
//! `matmul` (the CPU counterpart: [`crate::cpu::matmul`]; with an epilogue a lab fuses
//! into its output: [`matmul_then`]) and `gaussian` ([`crate::cpu::gaussian`]). The
//! elementwise and reduction kernels exist for the kernel tests only, behind the cargo
//! feature `test-kernels` (the page's build leaves it off).

use super::wgsl;
use super::{grid_1d, GpuError, Products, Recorder, Shader, Tensor, View};
use bytemuck::{Pod, Zeroable};

const MATMUL: Shader = Shader {
    name: "matmul",
    source: wgsl!("matmul.wgsl"),
    sums: false,
    products: true,
};
#[cfg(feature = "test-kernels")]
const ELEMENTWISE: Shader = Shader {
    name: "elementwise",
    source: wgsl!("elementwise.wgsl"),
    sums: false,
    products: false,
};
#[cfg(feature = "test-kernels")]
const REDUCE: Shader = Shader {
    name: "reduce",
    source: wgsl!("reduce.wgsl"),
    sums: true,
    products: false,
};
const NOISE: Shader = Shader {
    name: "noise",
    source: wgsl!("noise.wgsl"),
    sums: false,
    products: false,
};

/// The shape of one (batched) product: out[b] = alpha·op(A[b])·op(B[b]) + beta·out[b].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulSpec {
    /// Rows of op(A) and of the output.
    pub m: usize,
    /// Columns of op(A), rows of op(B).
    pub k: usize,
    /// Columns of op(B) and of the output.
    pub n: usize,
    /// Independent products laid out one after another in each tensor.
    pub batch: usize,
    /// Use Aᵀ (A stored k×m) instead of A (stored m×k).
    pub trans_a: bool,
    /// Use Bᵀ (B stored n×k) instead of B (stored k×n).
    pub trans_b: bool,
    pub alpha: f32,
    /// 0 overwrites the output; 1 accumulates into it.
    pub beta: f32,
}

impl MatmulSpec {
    /// A plain product out = A·B.
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        MatmulSpec {
            m,
            k,
            n,
            batch: 1,
            trans_a: false,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    k: u32,
    n: u32,
    batch: u32,
    trans_a: u32,
    trans_b: u32,
    stride_a: u32,
    stride_b: u32,
    stride_out: u32,
    alpha: f32,
    beta: f32,
    offset_a: u32,
    offset_b: u32,
    offset_out: u32,
    k_begin: u32,
    k_end: u32,
    offset_aux: u32,
    _pad: [u32; 3],
}

pub fn expect_len<'a>(name: &str, t: impl Into<View<'a>>, len: usize) -> Result<(), GpuError> {
    let t = t.into();
    if t.len != len {
        return Err(GpuError::Invalid(format!(
            "{name} has {} values, expected {len}",
            t.len
        )));
    }
    Ok(())
}

pub fn u32_of(name: &str, x: usize) -> Result<u32, GpuError> {
    u32::try_from(x).map_err(|_| GpuError::Invalid(format!("{name} = {x} does not fit in 32 bits")))
}

/// The longest slice of an inner sum one invocation makes (see `shaders/matmul.wgsl`):
/// software drivers stop an invocation after 65,535 loop iterations, so longer sums are
/// split into several accumulating dispatches, on every adapter alike.
pub const MATMUL_K_CHUNK: usize = 16_384;

/// Register-blocked matrix product, batched over a leading dimension (see `shaders/matmul.wgsl`).
/// Each operand may be a range of a larger buffer ([`View`]).
pub fn matmul<'a>(
    rec: &mut Recorder,
    a: impl Into<View<'a>>,
    b: impl Into<View<'a>>,
    out: impl Into<View<'a>>,
    s: MatmulSpec,
) -> Result<(), GpuError> {
    matmul_then(rec, a, b, out, s, None)
}

/// What a product does besides writing its output, fused into one of its dispatches: the
/// entry point `entry` of `shader` (shaders/matmul.wgsl with epilogue entry points
/// appended) with `aux` bound at `binding` (indexed like the output), in the sum's first
/// dispatch (`first`: a residual added to the product) or its last (a function of the
/// finished sum).
pub struct Epilogue<'a> {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub binding: u32,
    pub aux: View<'a>,
    pub first: bool,
}

/// [`matmul`] with an [`Epilogue`].
pub fn matmul_then<'a>(
    rec: &mut Recorder,
    a: impl Into<View<'a>>,
    b: impl Into<View<'a>>,
    out: impl Into<View<'a>>,
    s: MatmulSpec,
    epilogue: Option<Epilogue<'a>>,
) -> Result<(), GpuError> {
    let (a, b, out) = (a.into(), b.into(), out.into());
    expect_len("A", a, s.batch * s.m * s.k)?;
    expect_len("B", b, s.batch * s.k * s.n)?;
    expect_len("out", out, s.batch * s.m * s.n)?;
    if let Some(e) = &epilogue {
        expect_len(e.entry, e.aux, s.batch * s.m * s.n)?;
    }
    let slices = split_k_slices(&s, rec.gpu.products);
    if slices > 1 && epilogue.is_none() {
        return matmul_split_k(rec, a, b, out, s, slices);
    }
    let grid = [
        s.n.div_ceil(64) as u32,
        s.m.div_ceil(64) as u32,
        u32_of("batch", s.batch)?,
    ];
    let mut k_begin = 0;
    loop {
        let k_end = (k_begin + MATMUL_K_CHUNK).min(s.k);
        let (first, last) = (k_begin == 0, k_end >= s.k);
        let params = MatmulParams {
            m: u32_of("m", s.m)?,
            k: u32_of("k", s.k)?,
            n: u32_of("n", s.n)?,
            batch: u32_of("batch", s.batch)?,
            trans_a: s.trans_a as u32,
            trans_b: s.trans_b as u32,
            stride_a: u32_of("m·k", s.m * s.k)?,
            stride_b: u32_of("k·n", s.k * s.n)?,
            stride_out: u32_of("m·n", s.m * s.n)?,
            alpha: s.alpha,
            beta: if first { s.beta } else { 1.0 },
            offset_a: u32_of("offset of A", a.offset)?,
            offset_b: u32_of("offset of B", b.offset)?,
            offset_out: u32_of("offset of out", out.offset)?,
            k_begin: k_begin as u32,
            k_end: k_end as u32,
            offset_aux: u32_of(
                "offset of aux",
                epilogue.as_ref().map_or(0, |e| e.aux.offset),
            )?,
            _pad: [0; 3],
        };
        let uniform = rec.uniform(&params);
        let mut bindings = vec![(0, a.buffer), (1, b.buffer), (2, out.buffer), (3, &uniform)];
        let fused = epilogue
            .as_ref()
            .filter(|e| if e.first { first } else { last });
        let p = match fused {
            Some(e) => {
                bindings.push((e.binding, e.aux.buffer));
                rec.gpu.pipeline(e.shader, e.entry)
            }
            None => rec.gpu.pipeline(&MATMUL, "matmul"),
        };
        rec.dispatch(&p, &bindings, grid)?;
        k_begin = k_end;
        if k_begin >= s.k {
            return Ok(());
        }
    }
}

/// Workgroups a split product aims to fill (see [`split_k_slices`]).
const SPLIT_K_GROUPS: usize = 64;
/// The shortest slice of an inner sum worth a workgroup of its own.
const SPLIT_K_MIN_SLICE: usize = 256;

/// How many slices of its inner sum a product is cut into (split-K), 1 for none. A
/// product with a small output and a long sum — a weight gradient, inpᵀ·dout over every
/// token of the batch (C × OC outputs: 1 to 4 workgroups of 64 × 64 for the page's
/// models) — would leave all but a few of a GPU's compute units idle; cut into slices, each
/// slice's partial product is a workgroup grid of its own, and a second dispatch adds the
/// slices in slice order (`sum_slices` in shaders/matmul.wgsl). Slices of at least
/// [`SPLIT_K_MIN_SLICE`] of the sum, a power of two dividing it, up to
/// [`SPLIT_K_GROUPS`] workgroups in all; only products whose slices are contiguous in
/// both operands: op(A) = Aᵀ (A stored k × m), op(B) = B, one batch. The count depends on
/// the shape and the device's [`Products`] alone, so a product's additions come in the
/// same order on every run.
///
/// Hardware only (`Products::Tiles`): a software adapter runs workgroups on the CPU's
/// threads, which two workgroups already fill here. Timed there (lavapipe and SwiftShader,
/// 2 cores, the 0.1M–0.5M models' weight gradients), a split gained only where the whole
/// output is one workgroup (C = OC = 64: 5.1 → 3.3 ms, 8.6 → 7.2 ms) and was level or
/// slower elsewhere (the extra dispatch), so software adapters keep one slice.
pub fn split_k_slices(s: &MatmulSpec, products: Products) -> usize {
    if products != Products::Tiles || s.batch != 1 || !s.trans_a || s.trans_b {
        return 1;
    }
    let groups = s.n.div_ceil(64) * s.m.div_ceil(64);
    let mut slices = 1;
    while groups * slices * 2 <= SPLIT_K_GROUPS
        && s.k.is_multiple_of(slices * 2)
        && s.k / (slices * 2) >= SPLIT_K_MIN_SLICE
    {
        slices *= 2;
    }
    slices
}

/// [`matmul`] in `slices` slices of its inner sum: the partial products into the device's
/// scratch buffer as one batched product (slice i of Aᵀ and B are rows i·k/slices.. of
/// each, contiguous), then out = alpha·Σᵢ partialᵢ + beta·out in one more dispatch.
fn matmul_split_k(
    rec: &mut Recorder,
    a: View,
    b: View,
    out: View,
    s: MatmulSpec,
    slices: usize,
) -> Result<(), GpuError> {
    let len = s.m * s.n;
    let partials = rec.gpu.scratch(slices * len)?;
    let partial = MatmulSpec {
        k: s.k / slices,
        batch: slices,
        alpha: 1.0,
        beta: 0.0,
        ..s
    };
    let scratch = View {
        buffer: &partials,
        offset: 0,
        len: slices * len,
    };
    matmul_then(rec, a, b, scratch, partial, None)?;
    let params = MatmulParams {
        m: u32_of("m", s.m)?,
        n: u32_of("n", s.n)?,
        batch: u32_of("slices", slices)?,
        alpha: s.alpha,
        beta: s.beta,
        offset_out: u32_of("offset of out", out.offset)?,
        ..Zeroable::zeroed()
    };
    let uniform = rec.uniform(&params);
    let p = rec.gpu.pipeline(&MATMUL, "sum_slices");
    let grid = grid_1d(len, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(&p, &[(0, &partials), (2, out.buffer), (3, &uniform)], grid)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ElementwiseParams {
    n: u32,
    alpha: f32,
    _pad: [u32; 2],
}

#[cfg(feature = "test-kernels")]
/// out = x ∘ y for the elementwise kernel `entry` ("add", "sub", "mul").
fn binary(
    rec: &mut Recorder,
    entry: &'static str,
    x: &Tensor,
    y: &Tensor,
    out: &Tensor,
) -> Result<(), GpuError> {
    let n = out.len();
    expect_len("x", x, n)?;
    expect_len("y", y, n)?;
    let uniform = rec.uniform(&ElementwiseParams {
        n: u32_of("n", n)?,
        alpha: 0.0,
        _pad: [0; 2],
    });
    let p = rec.gpu.pipeline(&ELEMENTWISE, entry);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &p,
        &[
            (0, &x.buffer),
            (1, &y.buffer),
            (2, &out.buffer),
            (3, &uniform),
        ],
        grid,
    )
}

/// out = x + y.
#[cfg(feature = "test-kernels")]
pub fn add(rec: &mut Recorder, x: &Tensor, y: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    binary(rec, "add", x, y, out)
}

/// out = x − y.
#[cfg(feature = "test-kernels")]
pub fn sub(rec: &mut Recorder, x: &Tensor, y: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    binary(rec, "sub", x, y, out)
}

/// out = x × y (elementwise).
#[cfg(feature = "test-kernels")]
pub fn mul(rec: &mut Recorder, x: &Tensor, y: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    binary(rec, "mul", x, y, out)
}

/// out = alpha·x.
#[cfg(feature = "test-kernels")]
pub fn scale(rec: &mut Recorder, alpha: f32, x: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    unary(rec, "scale", alpha, x, out)
}

/// out = out + alpha·x.
#[cfg(feature = "test-kernels")]
pub fn axpy(rec: &mut Recorder, alpha: f32, x: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    unary(rec, "axpy", alpha, x, out)
}

#[cfg(feature = "test-kernels")]
fn unary(
    rec: &mut Recorder,
    entry: &'static str,
    alpha: f32,
    x: &Tensor,
    out: &Tensor,
) -> Result<(), GpuError> {
    let n = out.len();
    expect_len("x", x, n)?;
    let uniform = rec.uniform(&ElementwiseParams {
        n: u32_of("n", n)?,
        alpha,
        _pad: [0; 2],
    });
    let p = rec.gpu.pipeline(&ELEMENTWISE, entry);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(&p, &[(0, &x.buffer), (2, &out.buffer), (3, &uniform)], grid)
}

#[cfg(feature = "test-kernels")]
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

/// out[r] = Σ_c x[r, c] (`entry` "sumsq_rows": Σ_c x[r, c]²) for a rows×cols x; a
/// whole-tensor reduction is `rows = 1`.
#[cfg(feature = "test-kernels")]
fn reduce_rows(
    rec: &mut Recorder,
    entry: &'static str,
    x: &Tensor,
    rows: usize,
    cols: usize,
    out: &Tensor,
) -> Result<(), GpuError> {
    expect_len("x", x, rows * cols)?;
    expect_len("out", out, rows)?;
    let uniform = rec.uniform(&ReduceParams {
        rows: u32_of("rows", rows)?,
        cols: u32_of("cols", cols)?,
        _pad: [0; 2],
    });
    let grid = super::grid_groups(rows, rec.gpu.limits.max_compute_workgroups_per_dimension);
    let p = rec.gpu.pipeline(&REDUCE, entry);
    rec.dispatch(&p, &[(0, &x.buffer), (1, &out.buffer), (2, &uniform)], grid)
}

/// out[r] = Σ_c x[r, c].
#[cfg(feature = "test-kernels")]
pub fn sum_rows(
    rec: &mut Recorder,
    x: &Tensor,
    rows: usize,
    cols: usize,
    out: &Tensor,
) -> Result<(), GpuError> {
    reduce_rows(rec, "sum_rows", x, rows, cols, out)
}

/// out[r] = Σ_c x[r, c]².
#[cfg(feature = "test-kernels")]
pub fn sumsq_rows(
    rec: &mut Recorder,
    x: &Tensor,
    rows: usize,
    cols: usize,
    out: &Tensor,
) -> Result<(), GpuError> {
    reduce_rows(rec, "sumsq_rows", x, rows, cols, out)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NoiseParams {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    offset_lo: u32,
    offset_hi: u32,
    scale: f32,
    _pad: [u32; 2],
}

/// out[i] = scale · z(seed, offset + i), z standard normal from a counter-based generator.
pub fn gaussian(
    rec: &mut Recorder,
    seed: u64,
    offset: u64,
    scale: f32,
    out: &Tensor,
) -> Result<(), GpuError> {
    let n = out.len();
    let params = NoiseParams {
        n: u32_of("n", n)?,
        seed_lo: seed as u32,
        seed_hi: (seed >> 32) as u32,
        offset_lo: offset as u32,
        offset_hi: (offset >> 32) as u32,
        scale,
        _pad: [0; 2],
    };
    let uniform = rec.uniform(&params);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipeline(&NOISE, "gaussian"),
        &[(0, &out.buffer), (1, &uniform)],
        grid,
    )
}
