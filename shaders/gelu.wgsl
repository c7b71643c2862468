// GELU (tanh approximation) and its derivative, paired with gelu_forward/gelu_backward of
// src/transformer/layers.rs, for the matmul epilogues (shaders/matmul_epilogue.wgsl); the
// host puts this file between shaders/matmul.wgsl and the epilogues.
//   gelu(x) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))

const S: f32 = 0.7978846; // √(2/π)

// tanh saturates to ±1 in f32 well before |u| = 15; clamping avoids inf/inf in drivers
// that compute it from exponentials.
fn tanh_safe(u: f32) -> f32 { return tanh(clamp(u, -15.0, 15.0)); }

fn gelu(x: f32) -> f32 {
    return 0.5 * x * (1.0 + tanh_safe(S * (x + 0.044715 * x * x * x)));
}

fn gelu_grad(x: f32) -> f32 {
    let t = tanh_safe(S * (x + 0.044715 * x * x * x));
    let du = S * (1.0 + 3.0 * 0.044715 * x * x);
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
}
