//! Micro-batches across the page's Web Workers: a worker running a unit hands some of each
//! training step's micro-batches ([`crate::transformer::micro`]) to workers that have no
//! unit of their own (www/worker.js, `host.parts`), and a helping worker computes them with
//! [`PartHelper`] — the same function as the unit's own, so the step is the same bits
//! whoever computed its parts.

use super::values::{from_js, js_value, throw};
use crate::error::Error;
use crate::transformer::config::ModelConfig;
use crate::transformer::micro::{PartAnswer, PartBuffers, PartJob, RemoteParts};
use crate::transformer::params::Layout;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A unit's helpers as its worker's host knows them: `host.helpers()` says how many are
/// ready, `host.parts(model, params, jobs)` sends a step's jobs and returns a promise of
/// their answers, in order.
pub(crate) struct PageParts {
    host: JsValue,
    /// The answers of the step's jobs sent last.
    pending: RefCell<Option<js_sys::Promise>>,
}

impl PageParts {
    /// `host`'s helpers, or none when it has no `parts` method.
    pub(crate) fn of(host: &JsValue) -> Option<PageParts> {
        method(host, "parts")?;
        Some(PageParts {
            host: host.clone(),
            pending: RefCell::new(None),
        })
    }
}

fn method(host: &JsValue, name: &str) -> Option<js_sys::Function> {
    js_sys::Reflect::get(host, &JsValue::from_str(name))
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()
}

fn lost(what: &str, e: JsValue) -> Error {
    let why = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_default();
    Error::Io(format!("{what}: {why}"))
}

impl RemoteParts for PageParts {
    fn helpers(&self) -> usize {
        method(&self.host, "helpers")
            .and_then(|f| f.call0(&self.host).ok())
            .and_then(|n| n.as_f64())
            .map_or(0, |n| n.max(0.0) as usize)
    }

    fn send(&self, model: &ModelConfig, params: &[f32], jobs: &[PartJob<'_>]) -> Result<(), Error> {
        let list = js_sys::Array::new();
        for job in jobs {
            let item = js_sys::Object::new();
            let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&item, &k.into(), v).map(|_| ());
            set("x", &js_sys::Uint8Array::from(job.x).into())
                .and_then(|_| set("y", &js_sys::Uint8Array::from(job.y).into()))
                .and_then(|_| set("n", &(job.batch_bytes as f64).into()))
                .and_then(|_| set("helper", &(job.helper as f64).into()))
                .map_err(|e| lost("a micro-batch job", e))?;
            list.push(&item);
        }
        let parts = method(&self.host, "parts").ok_or_else(|| Error::Io("no helpers".into()))?;
        let promise = parts
            .call3(
                &self.host,
                &js_value(model)?,
                &js_sys::Float32Array::from(params).into(),
                &list.into(),
            )
            .map_err(|e| lost("sending micro-batches", e))?;
        let promise = promise
            .dyn_into::<js_sys::Promise>()
            .map_err(|_| Error::Io("host.parts did not return a promise".into()))?;
        *self.pending.borrow_mut() = Some(promise);
        Ok(())
    }

    fn receive(&self) -> Pin<Box<dyn Future<Output = Result<Vec<PartAnswer>, Error>> + '_>> {
        Box::pin(async move {
            let promise = self
                .pending
                .borrow_mut()
                .take()
                .ok_or_else(|| Error::Io("no micro-batches were sent".into()))?;
            let answers = wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .map_err(|e| lost("a helper's micro-batches", e))?;
            let get = |v: &JsValue, k: &str| {
                js_sys::Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED)
            };
            js_sys::Array::from(&answers)
                .iter()
                .map(|a| {
                    let loss = get(&a, "loss").as_f64().unwrap_or(f64::NAN);
                    let grads = get(&a, "grads")
                        .dyn_into::<js_sys::Float32Array>()
                        .map_err(|_| {
                            Error::Io("a micro-batch's gradient is not a Float32Array".into())
                        })?;
                    Ok(PartAnswer {
                        loss,
                        grads: grads.to_vec(),
                    })
                })
                .collect()
        })
    }
}

/// A helping worker's micro-batches of one model: [`PartHelper::gradient`] computes one as
/// the unit's worker would.
#[wasm_bindgen]
pub struct PartHelper {
    cfg: ModelConfig,
    layout: Layout,
    /// The latest part's buffers (remade when a part has another number of rows).
    buffers: Option<PartBuffers>,
}

#[wasm_bindgen]
impl PartHelper {
    /// For micro-batches of `model` (a model config, as `host.parts` passes it).
    #[wasm_bindgen(constructor)]
    pub fn new(model: JsValue) -> Result<PartHelper, JsValue> {
        let cfg: ModelConfig = from_js(model, "model")?;
        cfg.validate().map_err(throw)?;
        Ok(PartHelper {
            layout: Layout::new(&cfg),
            cfg,
            buffers: None,
        })
    }

    /// One micro-batch at `params`: inputs `x` and targets `y` (its rows, `ctx` bytes each)
    /// of a batch of `n` bytes. Returns `{loss, grads}` (a `Float32Array`), as
    /// `PartBuffers::gradient` leaves them.
    pub fn gradient(
        &mut self,
        params: &[f32],
        x: &[u8],
        y: &[u8],
        n: usize,
    ) -> Result<JsValue, JsValue> {
        let t = self.cfg.ctx;
        if params.len() != self.layout.total
            || x.len() != y.len()
            || x.is_empty()
            || !x.len().is_multiple_of(t)
            || n < x.len()
        {
            return Err(throw(Error::data(
                "micro-batch",
                format!(
                    "{} parameters for a model of {}, {} input and {} target bytes in rows of {t}, of a batch of {n}",
                    params.len(),
                    self.layout.total,
                    x.len(),
                    y.len()
                ),
            )));
        }
        let rows = x.len() / t;
        let (cfg, layout) = (&self.cfg, &self.layout);
        let buffers = match &mut self.buffers {
            Some(b) if b.rows() == rows => b,
            slot => slot.insert(PartBuffers::new(cfg, layout.total, rows, t)),
        };
        buffers.gradient(cfg, layout, params, x, y, n);
        let out = js_sys::Object::new();
        js_sys::Reflect::set(&out, &"loss".into(), &buffers.loss.into())?;
        js_sys::Reflect::set(
            &out,
            &"grads".into(),
            &js_sys::Float32Array::from(buffers.grads.as_slice()).into(),
        )?;
        Ok(out.into())
    }
}
