//! The WebGPU compute backend: one set of WGSL kernels (`shaders/`), run through wgpu
//! natively (Vulkan/Metal/DX12, or Mesa's lavapipe on a machine without a GPU) and in the
//! browser (WebGPU, inside the page's Web Worker).
//!
//! This module is the runtime: the device, tensors, the recorder and the pipeline cache.
//! - [`Gpu`]: adapter and device, the adapter's description and limits, and the compute
//!   pipelines, each built once, on first use, by its shader and entry point's names.
//! - [`Tensor`]: a shape and the storage buffer that holds it (f32, row-major).
//! - [`Recorder`]: a command buffer being recorded, so a whole computation is submitted once;
//!   or, for work that runs again and again (a training step, an evaluation), a
//!   [`Program`]: the same kernels' dispatches — pipeline, bind group, workgroup grid —
//!   built once, which [`Gpu::run`] encodes and submits in parts without creating anything.
//! - [`kernels`]: the kernels both labs use (matmul, add, Gaussian noise), one thin wrapper
//!   each. Each lab owns its own kernels (`linear::kernels`, `transformer::kernels`,
//!   `transformer::optim`); every wrapper's CPU counterpart carries its name.
//!
//! Requests beyond the adapter's limits fail with [`GpuError::Limit`] before anything is
//! submitted; WebGPU validation errors and device loss are caught and returned as errors,
//! never left to the default handler (which would panic natively).

pub mod bench;
pub mod kernels;

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

#[derive(Debug, Clone, PartialEq)]
pub enum GpuError {
    /// No adapter (no WebGPU in this browser, or no Vulkan driver natively).
    NoAdapter(String),
    /// The adapter refused to create a device.
    Device(String),
    /// A tensor or dispatch exceeds one of the adapter's limits.
    Limit {
        limit: &'static str,
        requested: u64,
        max: u64,
    },
    /// A request that does not make sense (mismatched shapes, …).
    Invalid(String),
    /// WebGPU reported a validation or out-of-memory error.
    Validation(String),
    /// The device was lost (driver reset, tab in background too long, …).
    Lost(String),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter(why) => write!(f, "no GPU adapter: {why}"),
            GpuError::Device(why) => write!(f, "could not open the GPU device: {why}"),
            GpuError::Limit {
                limit,
                requested,
                max,
            } => {
                write!(
                    f,
                    "exceeds the adapter's {limit}: requested {requested}, the maximum is {max}"
                )
            }
            GpuError::Invalid(why) => write!(f, "invalid GPU request: {why}"),
            GpuError::Validation(why) => write!(f, "WebGPU error: {why}"),
            GpuError::Lost(why) => write!(f, "the GPU device was lost: {why}"),
        }
    }
}

impl std::error::Error for GpuError {}

/// What the page and the CLI show about the adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    /// "DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Cpu" or "Other".
    pub device_type: String,
    pub driver: String,
    /// A software rasterizer (SwiftShader, llvmpipe/lavapipe): expect slow training.
    pub software: bool,
    /// The adapter offers subgroups (WebGPU's `subgroups` feature, as wgpu reports it).
    #[serde(default)]
    pub subgroups: bool,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
}

/// A shape and its storage buffer of f32 values (row-major).
pub struct Tensor {
    pub buffer: wgpu::Buffer,
    pub shape: Vec<usize>,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// `len` values from element `offset` (a named tensor inside a flat buffer).
    pub fn slice(&self, offset: usize, len: usize) -> View<'_> {
        debug_assert!(offset + len <= self.len());
        View {
            buffer: &self.buffer,
            offset,
            len,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A range of a tensor's buffer: kernels read and write it in place at an element offset,
/// so the flat parameter, gradient and optimizer buffers need no copies (llm.c style).
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: usize,
    pub len: usize,
}

impl<'a> From<&'a Tensor> for View<'a> {
    fn from(t: &'a Tensor) -> View<'a> {
        t.slice(0, t.len())
    }
}

/// One WGSL source file (a kernel family, forward and backward side by side), included at
/// compile time by the module that owns its kernels.
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
    /// Uses `workgroup_sum`: the device prepends its definition (shaders/workgroup_sum.wgsl,
    /// or shaders/workgroup_sum_subgroups.wgsl on a device with subgroups).
    pub sums: bool,
    /// Uses the matrix product's `product`: the device prepends the one of its
    /// [`Products`] (shaders/matmul_tiles.wgsl or shaders/matmul_direct.wgsl).
    pub products: bool,
}

/// How a device's matrix products read their operands (shaders/matmul.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Products {
    /// Through tiles shared in workgroup memory: hardware.
    Tiles,
    /// Each invocation from storage, without workgroup memory or barriers: software
    /// adapters, which run a workgroup's invocations on one CPU thread and pay for every
    /// barrier (1.5× faster steps on SwiftShader; README, "The WebGPU backend").
    Direct,
}

impl Products {
    /// The reading that is fastest on `adapter` (known before any pipeline is built: in
    /// the browser, once the page has said whether the adapter is a software one).
    pub fn for_adapter(adapter: &AdapterSummary) -> Products {
        if adapter.software {
            Products::Direct
        } else {
            Products::Tiles
        }
    }
}

/// The text of a kernel file of shaders/ as the build script (build.rs) wrote it: without
/// comments and indentation (line numbers kept), so the wasm carries only the code.
macro_rules! wgsl {
    ($file:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/shaders/", $file))
    };
}
pub(crate) use wgsl;

const WORKGROUP_SUM: &str = wgsl!("workgroup_sum.wgsl");
const WORKGROUP_SUM_SUBGROUPS: &str = wgsl!("workgroup_sum_subgroups.wgsl");
const MATMUL_TILES: &str = wgsl!("matmul_tiles.wgsl");
const MATMUL_DIRECT: &str = wgsl!("matmul_direct.wgsl");

/// The compiled shader modules and pipelines of a device, by name, each built once.
#[derive(Default)]
struct PipelineCache {
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    pipelines: HashMap<(&'static str, &'static str), wgpu::ComputePipeline>,
}

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pipelines: Mutex<PipelineCache>,
    /// The first uncaptured WebGPU error or device loss, reported by the next submit/read.
    fault: Arc<Mutex<Option<GpuError>>>,
    /// What this runtime has created so far (a steady-state training step creates nothing).
    created: Mutex<Created>,
    /// Read-back buffers, by size, kept for the next read of that size.
    staging: Mutex<Vec<wgpu::Buffer>>,
    /// The buffer of [`Gpu::scratch`] and its length in f32.
    scratch: Mutex<Option<(wgpu::Buffer, usize)>>,
    /// Command buffers of computation submitted so far (read-back copies not counted).
    submissions: std::sync::atomic::AtomicUsize,
    /// Dispatches encoded by [`Gpu::run`] so far.
    encoded: std::sync::atomic::AtomicUsize,
    /// The device has subgroups, and the reductions use them (see [`Shader::sums`]).
    pub subgroups: bool,
    /// How its matrix products read their operands; set before the first product's
    /// pipeline is built (see [`Shader::products`]).
    pub products: Products,
}

/// In the browser a device and its buffers live in the GPU process until JavaScript's
/// garbage collector frees the `GPUDevice` (wgpu's WebGPU backend drops nothing itself),
/// which may be never on a page that opens devices one after another: each would keep its
/// memory and queued work. So a `Gpu` destroys its device when dropped. (Natively, dropping
/// the last handle frees it.)
#[cfg(target_arch = "wasm32")]
impl Drop for Gpu {
    fn drop(&mut self) {
        self.device.destroy();
    }
}

/// Counts of the WebGPU objects a [`Gpu`] has created: buffers (storage, uniform, read-back),
/// bind groups and compute pipelines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub buffers: usize,
    pub bind_groups: usize,
    pub pipelines: usize,
}

impl Gpu {
    /// Finds an adapter (any kind, software included) and opens a device with its limits,
    /// and with subgroups when the adapter has them.
    pub async fn new() -> Result<Gpu, GpuError> {
        Gpu::open(true).await
    }

    /// [`Gpu::new`] without subgroups even where the adapter has them: the reference path
    /// of the reductions, for the tests that compare both.
    pub async fn without_subgroups() -> Result<Gpu, GpuError> {
        Gpu::open(false).await
    }

    /// [`Gpu::new`] with its matrix products reading their operands as `products` says,
    /// whatever the adapter: for the tests that check both readings on one adapter.
    pub async fn with_products(products: Products) -> Result<Gpu, GpuError> {
        let mut gpu = Gpu::open(true).await?;
        gpu.products = products;
        Ok(gpu)
    }

    async fn open(subgroups: bool) -> Result<Gpu, GpuError> {
        let instance = wgpu::Instance::default();
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let subgroups = subgroups && adapter.features().contains(wgpu::Features::SUBGROUP);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("overtrain"),
                required_features: if subgroups {
                    wgpu::Features::SUBGROUP
                } else {
                    wgpu::Features::empty()
                },
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Device(e.to_string()))?;
        let fault = Arc::new(Mutex::new(None));
        let sink = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(GpuError::Validation(e.to_string()));
        }));
        let sink = fault.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(GpuError::Lost(format!("{reason:?}: {message}")));
        });
        let software = info.device_type == wgpu::DeviceType::Cpu
            || ["swiftshader", "llvmpipe", "lavapipe"].iter().any(|s| {
                info.name.to_ascii_lowercase().contains(s)
                    || info.driver.to_ascii_lowercase().contains(s)
            });
        let adapter_summary = AdapterSummary {
            name: if info.name.is_empty() {
                info.vendor.to_string()
            } else {
                info.name.clone()
            },
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            software,
            subgroups: adapter.features().contains(wgpu::Features::SUBGROUP),
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
        };
        let products = Products::for_adapter(&adapter_summary);
        let gpu = Gpu {
            device,
            queue,
            adapter: adapter_summary,
            limits,
            pipelines: Mutex::new(PipelineCache::default()),
            fault,
            created: Mutex::new(Created::default()),
            staging: Mutex::new(Vec::new()),
            scratch: Mutex::new(None),
            submissions: Default::default(),
            encoded: Default::default(),
            subgroups,
            products,
        };
        gpu.check()?;
        Ok(gpu)
    }

    /// The first uncaptured error or device loss since start-up, if any.
    pub fn check(&self) -> Result<(), GpuError> {
        match self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Command buffers of computation submitted so far: one per [`Gpu::submit`], and one
    /// per part of each [`Program`] run.
    pub fn submissions(&self) -> usize {
        self.submissions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What this runtime has created so far.
    pub fn created(&self) -> Created {
        *self.created.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut Created)) {
        f(&mut self.created.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The compute pipeline of `entry` in `shader`, compiled on first use and kept (its
    /// bind-group layout is derived from the shader).
    pub fn pipeline(&self, shader: &Shader, entry: &'static str) -> wgpu::ComputePipeline {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.pipelines.get(&(shader.name, entry)) {
            return p.clone();
        }
        let module = cache
            .modules
            .entry(shader.name)
            .or_insert_with(|| {
                // The preludes the shader uses, then the shader ("enable" directives
                // first; each file ends with a newline).
                let enable = if shader.sums && self.subgroups && cfg!(target_arch = "wasm32") {
                    "enable subgroups;\n"
                } else {
                    ""
                };
                let sums = match (shader.sums, self.subgroups) {
                    (false, _) => "",
                    (true, false) => WORKGROUP_SUM,
                    (true, true) => WORKGROUP_SUM_SUBGROUPS,
                };
                let products = match (shader.products, self.products) {
                    (false, _) => "",
                    (true, Products::Tiles) => MATMUL_TILES,
                    (true, Products::Direct) => MATMUL_DIRECT,
                };
                let source = format!("{enable}{sums}{products}{}", shader.source);
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(shader.name),
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    })
            })
            .clone();
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        cache
            .pipelines
            .insert((shader.name, entry), pipeline.clone());
        drop(cache);
        self.count(|c| c.pipelines += 1);
        pipeline
    }

    /// Checks a storage buffer of `len` f32 against the adapter's limits.
    pub fn check_storage(&self, len: usize) -> Result<u64, GpuError> {
        let bytes = (len.max(1) * 4) as u64;
        if bytes > self.limits.max_buffer_size {
            return Err(GpuError::Limit {
                limit: "max_buffer_size",
                requested: bytes,
                max: self.limits.max_buffer_size,
            });
        }
        let binding = self.limits.max_storage_buffer_binding_size;
        if bytes > binding {
            return Err(GpuError::Limit {
                limit: "max_storage_buffer_binding_size",
                requested: bytes,
                max: binding,
            });
        }
        Ok(bytes)
    }

    /// A tensor holding `data` (length must match the shape).
    pub fn upload(&self, data: &[f32], shape: &[usize]) -> Result<Tensor, GpuError> {
        let len: usize = shape.iter().product();
        if data.len() != len {
            return Err(GpuError::Invalid(format!(
                "{} values for shape {shape:?}",
                data.len()
            )));
        }
        Ok(Tensor {
            buffer: self.storage(data)?,
            shape: shape.to_vec(),
        })
    }

    /// A tensor of zeros.
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor, GpuError> {
        let len: usize = shape.iter().product();
        let bytes = self.check_storage(len)?;
        self.count(|c| c.buffers += 1);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Tensor {
            buffer,
            shape: shape.to_vec(),
        })
    }

    /// A storage buffer of at least `len` f32 for values that live only inside one
    /// recorded operation (split-K's partial products, see `kernels::split_k_slices`): one
    /// per device, replaced by a larger one when asked for more. The operations that use it
    /// never overlap — a queue runs dispatches in order — and a program recorded with an
    /// earlier, smaller one keeps that one alive.
    pub fn scratch(&self, len: usize) -> Result<wgpu::Buffer, GpuError> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((buffer, have)) = &*scratch {
            if *have >= len {
                return Ok(buffer.clone());
            }
        }
        let buffer = self.zeros(&[len])?.buffer;
        *scratch = Some((buffer.clone(), len));
        Ok(buffer)
    }

    /// A storage buffer holding plain data (run parameters, status words), limit-checked.
    pub fn storage<T: bytemuck::Pod>(&self, data: &[T]) -> Result<wgpu::Buffer, GpuError> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        self.check_storage(bytes.len().div_ceil(4))?;
        let contents: &[u8] = if bytes.is_empty() { &[0u8; 4] } else { bytes };
        self.count(|c| c.buffers += 1);
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            }))
    }

    /// Reads `len` u32 words back from a storage buffer made by [`Gpu::storage`].
    pub async fn read_u32(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<u32>, GpuError> {
        let tensor = Tensor {
            buffer: buffer.clone(),
            shape: vec![len],
        };
        let values = self.read(&tensor).await?;
        Ok(values.iter().map(|v| v.to_bits()).collect())
    }

    /// Overwrites a tensor's values from the CPU.
    pub fn write(&self, tensor: &Tensor, data: &[f32]) -> Result<(), GpuError> {
        if data.len() != tensor.len() {
            return Err(GpuError::Invalid(format!(
                "{} values for shape {:?}",
                data.len(),
                tensor.shape
            )));
        }
        self.queue
            .write_buffer(&tensor.buffer, 0, bytemuck::cast_slice(data));
        Ok(())
    }

    /// Starts recording a command buffer for one-off work: every uniform buffer and bind
    /// group it needs is made as it goes, and [`Gpu::submit`] sends it whole.
    pub fn recorder(&self) -> Recorder<'_> {
        Recorder {
            gpu: self,
            pass: None,
            encoder: Some(
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }),
            ),
            program: None,
            dispatches: 0,
        }
    }

    /// Builds a [`Program`]: `record` calls the kernels as for a one-off recording, but
    /// their dispatches (each with its bind group and uniforms, made here once) are kept to
    /// be run again and again by [`Gpu::run`] rather than encoded.
    pub fn build(
        &self,
        record: impl FnOnce(&mut Recorder) -> Result<(), GpuError>,
    ) -> Result<Program, GpuError> {
        let mut rec = Recorder {
            gpu: self,
            pass: None,
            encoder: None,
            program: Some(Program::default()),
            dispatches: 0,
        };
        record(&mut rec)?;
        Ok(rec.program.take().expect("a program being built"))
    }

    /// Encodes and submits `programs` one after another, one command buffer per part (see
    /// [`Recorder::end_part`]): nothing is created but the command encoders.
    pub fn run(&self, programs: &[&Program]) -> Result<(), GpuError> {
        let new_encoder = || {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        };
        let mut encoder = new_encoder();
        let mut pass: Option<wgpu::ComputePass<'static>> = None;
        let mut pending = false;
        let submit = |encoder: wgpu::CommandEncoder| {
            self.queue.submit(Some(encoder.finish()));
            self.submissions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        for op in programs.iter().flat_map(|p| &p.ops) {
            match op {
                Op::Dispatch {
                    pipeline,
                    group,
                    grid,
                } => {
                    let pass = pass.get_or_insert_with(|| {
                        encoder
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: None,
                                timestamp_writes: None,
                            })
                            .forget_lifetime()
                    });
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, group, &[]);
                    pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
                    self.encoded
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Op::Clear(buffer) => {
                    pass = None;
                    encoder.clear_buffer(buffer, 0, None);
                }
                Op::Copy {
                    from,
                    from_offset,
                    to,
                    to_offset,
                    bytes,
                } => {
                    pass = None;
                    encoder.copy_buffer_to_buffer(from, *from_offset, to, *to_offset, *bytes);
                }
                Op::EndPart => {
                    pass = None;
                    submit(std::mem::replace(&mut encoder, new_encoder()));
                    pending = false;
                    continue;
                }
            }
            pending = true;
        }
        drop(pass);
        if pending {
            submit(encoder);
        }
        self.check()
    }

    /// Dispatches encoded by [`Gpu::run`] so far (a steady-state step encodes exactly its
    /// program's, and creates nothing).
    pub fn encoded(&self) -> usize {
        self.encoded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Submits a recording; returns how many dispatches it held.
    pub fn submit(&self, mut recorder: Recorder<'_>) -> Result<usize, GpuError> {
        let n = recorder.dispatches;
        recorder.end_pass();
        let encoder = recorder
            .encoder
            .take()
            .ok_or_else(|| GpuError::Invalid("a program is run, not submitted".into()))?;
        self.queue.submit(Some(encoder.finish()));
        self.submissions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.check()?;
        Ok(n)
    }

    /// Reads a tensor back to the CPU (waits for the work submitted so far).
    pub async fn read(&self, tensor: &Tensor) -> Result<Vec<f32>, GpuError> {
        let len = tensor.len();
        let bytes = (len.max(1) * 4) as u64;
        let kept = {
            let mut pool = self.staging.lock().unwrap_or_else(|p| p.into_inner());
            let i = pool.iter().position(|b| b.size() == bytes);
            i.map(|i| pool.swap_remove(i))
        };
        let staging = kept.unwrap_or_else(|| {
            self.count(|c| c.buffers += 1);
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(&tensor.buffer, 0, &staging, 0, bytes);
        self.queue.submit(Some(encoder.finish()));
        let (sender, receiver) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        // Natively the callback runs inside poll; in the browser the event loop runs it.
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Lost(e.to_string()))?;
        let mapped = receiver
            .await
            .map_err(|_| GpuError::Lost("the read-back was cancelled".into()))?;
        self.check()?;
        // A read-back buffer of our own fails to map only when the device is gone (its
        // validation errors were checked just above); the loss callback may come later.
        mapped.map_err(|e| GpuError::Lost(format!("a result could not be read back ({e})")))?;
        let values = {
            let view = staging.get_mapped_range(..).map_err(|e| {
                GpuError::Validation(format!("could not read the mapped buffer: {e:?}"))
            })?;
            bytemuck::cast_slice::<u8, f32>(&view)[..len].to_vec()
        };
        staging.unmap();
        let mut pool = self.staging.lock().unwrap_or_else(|p| p.into_inner());
        // A few sizes are read in a loop (losses, the step guard); keep those.
        if pool.len() < 8 {
            pool.push(staging);
        }
        Ok(values)
    }

    /// Creates a small uniform buffer for one dispatch's parameters (see
    /// [`Recorder::uniform`]).
    pub fn uniform<T: bytemuck::Pod>(&self, params: &T) -> wgpu::Buffer {
        self.count(|c| c.buffers += 1);
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Checks a workgroup grid against the adapter's limits.
    pub fn check_grid(&self, grid: [u32; 3]) -> Result<(), GpuError> {
        let max = self.limits.max_compute_workgroups_per_dimension;
        for g in grid {
            if g > max {
                return Err(GpuError::Limit {
                    limit: "max_compute_workgroups_per_dimension",
                    requested: g as u64,
                    max: max as u64,
                });
            }
        }
        Ok(())
    }
}

/// Work built once and run again and again by [`Gpu::run`] (a model's training step, its
/// evaluation): each dispatch's pipeline, bind group and workgroup grid, the buffer clears
/// and copies between them, and where each part ends. The per-step values its kernels read
/// live in buffers it binds, which the caller rewrites with `queue.write_buffer`.
#[derive(Default)]
pub struct Program {
    ops: Vec<Op>,
}

impl Program {
    /// Its compute dispatches.
    pub fn dispatches(&self) -> usize {
        self.ops
            .iter()
            .filter(|op| matches!(op, Op::Dispatch { .. }))
            .count()
    }

    /// The command buffers a run of `programs` one after another submits, as
    /// [`Gpu::run`] counts them (a part left open goes on into the next program).
    pub fn parts(programs: &[&Program]) -> usize {
        let (mut parts, mut open) = (0, false);
        for op in programs.iter().flat_map(|p| &p.ops) {
            if matches!(op, Op::EndPart) {
                parts += 1;
                open = false;
            } else {
                open = true;
            }
        }
        parts + usize::from(open)
    }
}

enum Op {
    Dispatch {
        pipeline: wgpu::ComputePipeline,
        group: wgpu::BindGroup,
        grid: [u32; 3],
    },
    Clear(wgpu::Buffer),
    Copy {
        from: wgpu::Buffer,
        from_offset: u64,
        to: wgpu::Buffer,
        to_offset: u64,
        bytes: u64,
    },
    EndPart,
}

/// What the kernels record into: a command buffer for one-off work ([`Gpu::recorder`],
/// sent by [`Gpu::submit`]), or a [`Program`] being built ([`Gpu::build`]). Dispatches
/// go into one compute pass, which ends only for a copy or a clear.
pub struct Recorder<'g> {
    pub gpu: &'g Gpu,
    /// Before the encoder: a pass ends (drops) before its encoder.
    pass: Option<wgpu::ComputePass<'static>>,
    /// One-off work: the command buffer.
    encoder: Option<wgpu::CommandEncoder>,
    /// A program being built.
    program: Option<Program>,
    /// Dispatches recorded so far.
    pub dispatches: usize,
}

impl Recorder<'_> {
    fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Ends a part of a program (a transformer block's forward or backward pass): a run
    /// submits what came before as one command buffer, so that no submission runs for
    /// long — a browser may stop a GPU that works on one command buffer for over a second
    /// or so, and a step of a large model on a slow adapter takes far longer. One-off work
    /// is left whole.
    pub fn end_part(&mut self) {
        if let Some(program) = &mut self.program {
            if !matches!(program.ops.last(), None | Some(Op::EndPart)) {
                program.ops.push(Op::EndPart);
            }
        }
    }

    /// Records zeroing a tensor (a buffer clear, not a dispatch).
    pub fn clear(&mut self, tensor: &Tensor) {
        self.end_pass();
        match (&mut self.program, &mut self.encoder) {
            (Some(program), _) => program.ops.push(Op::Clear(tensor.buffer.clone())),
            (None, Some(encoder)) => encoder.clear_buffer(&tensor.buffer, 0, None),
            (None, None) => unreachable!("a recorder encodes or builds"),
        }
    }

    /// Records copying `len` f32 values between buffers (element offsets).
    pub fn copy(&mut self, from: View, to: View) {
        self.end_pass();
        let bytes = (from.len.min(to.len) * 4) as u64;
        let (from_offset, to_offset) = ((from.offset * 4) as u64, (to.offset * 4) as u64);
        match (&mut self.program, &mut self.encoder) {
            (Some(program), _) => program.ops.push(Op::Copy {
                from: from.buffer.clone(),
                from_offset,
                to: to.buffer.clone(),
                to_offset,
                bytes,
            }),
            (None, Some(encoder)) => {
                encoder.copy_buffer_to_buffer(from.buffer, from_offset, to.buffer, to_offset, bytes)
            }
            (None, None) => unreachable!("a recorder encodes or builds"),
        }
    }

    /// A uniform buffer holding `params` for the next dispatch (made once for a program).
    pub fn uniform<T: bytemuck::Pod>(&mut self, params: &T) -> wgpu::Buffer {
        self.gpu.uniform(params)
    }

    /// Records one dispatch of `pipeline` over `grid` workgroups with each buffer bound at
    /// its binding index (the pipeline's layout is derived from its shader).
    pub fn dispatch(
        &mut self,
        pipeline: &wgpu::ComputePipeline,
        bindings: &[(u32, &wgpu::Buffer)],
        grid: [u32; 3],
    ) -> Result<(), GpuError> {
        self.gpu.check_grid(grid)?;
        if grid.contains(&0) {
            return Ok(());
        }
        let group = self.bind_group(pipeline, bindings);
        self.dispatches += 1;
        if let Some(program) = &mut self.program {
            program.ops.push(Op::Dispatch {
                pipeline: pipeline.clone(),
                group,
                grid,
            });
            return Ok(());
        }
        let encoder = self.encoder.as_mut().expect("a recorder encodes or builds");
        let pass = self.pass.get_or_insert_with(|| {
            encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: None,
                })
                .forget_lifetime()
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        Ok(())
    }

    fn bind_group(
        &self,
        pipeline: &wgpu::ComputePipeline,
        bindings: &[(u32, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = bindings
            .iter()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        self.gpu.count(|c| c.bind_groups += 1);
        self.gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
    }
}

/// `groups` workgroups in a grid, folded into 2-D past the per-dimension limit (the shaders
/// unfold it: index = x + y · groups_x).
pub fn grid_groups(groups: usize, max_per_dim: u32) -> [u32; 3] {
    let max = max_per_dim as usize;
    if groups <= max {
        [groups as u32, 1, 1]
    } else {
        [max as u32, groups.div_ceil(max) as u32, 1]
    }
}

/// A grid of 256-wide workgroups covering `n` items (see [`grid_groups`]).
pub fn grid_1d(n: usize, max_per_dim: u32) -> [u32; 3] {
    grid_groups(n.div_ceil(256), max_per_dim)
}
