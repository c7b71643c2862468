//! Several cores on one training step give the bits of one (src/cpu/par.rs): every large
//! matrix product and attention, split by output rows over 1, 2, 3 or 8 parts, computes
//! each element with the same sum; so do whole training runs (`train`) and experiments
//! whose idle threads join the running units' steps (a wsd stable phase, the tail). A step's
//! micro-batches, computed on as many cores as are free and summed in one order, give the
//! same bits on any number of them.
//!
//! The number of helpers is one setting for the whole process, so these tests take turns.

use overtrain::cpu::layers::{
    attention_backward, attention_forward, crossentropy_backward, crossentropy_forward,
    gelu_backward_kept, gelu_forward_keep, layernorm_backward, layernorm_forward,
};
use overtrain::cpu::par::{self, Helpers};
use overtrain::cpu::{matmul, matmul_tn, matmul_tn_acc};
use overtrain::experiment::{self, Engines, ExperimentConfig, Host, Progress};
use overtrain::transformer::config::ModelConfig;
use overtrain::transformer::engine::run_ready;
use overtrain::transformer::train::{train_cpu, TrainConfig};
use overtrain::Error;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// `f()` with 0 helpers (the reference) and with 1, 2 and 7: the same bits each time.
fn same_bits_for_every_split(name: &str, f: impl Fn() -> Vec<f32>) {
    let whole = {
        let _h = Helpers::set(0);
        bits(&f())
    };
    for helpers in [1, 2, 7] {
        let _h = Helpers::set(helpers);
        assert!(
            bits(&f()) == whole,
            "{name}: {helpers} helpers changed the result"
        );
    }
}

#[test]
fn products_and_attention_split_over_cores_give_the_same_bits() {
    let _turn = turn();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (m, k, n) in [(97, 64, 48), (256, 32, 96), (33, 200, 41), (1000, 64, 256)] {
        {
            let _h = Helpers::set(7);
            assert!(
                par::parts(m, k * n) > 2,
                "{m}×{k}×{n} is split (else this test shows nothing)"
            );
        }
        let a = random(&mut rng, m * k);
        let at = random(&mut rng, k * m);
        let b = random(&mut rng, k * n);
        let acc = random(&mut rng, m * n);
        same_bits_for_every_split(&format!("matmul {m}×{k}×{n}"), || {
            let mut out = vec![0.0; m * n];
            matmul(&mut out, &a, &b, m, k, n);
            out
        });
        same_bits_for_every_split(&format!("matmul_tn {m}×{k}×{n}"), || {
            let mut out = vec![0.0; m * n];
            matmul_tn(&mut out, &at, &b, m, k, n);
            out
        });
        same_bits_for_every_split(&format!("matmul_tn_acc {m}×{k}×{n}"), || {
            let mut out = acc.clone();
            matmul_tn_acc(&mut out, &at, &b, m, k, n);
            out
        });
    }
    // Head sizes with their own code (8, 16) and the general one (12).
    for (b, t, d, h) in [(8, 32, 32, 4), (7, 24, 64, 4), (5, 32, 36, 3)] {
        {
            let _h = Helpers::set(7);
            assert!(
                par::parts(b, t * t * d) > 1,
                "attention {b}×{t}×{d} is split"
            );
        }
        let qkv = random(&mut rng, b * t * 3 * d);
        let dout = random(&mut rng, b * t * d);
        let forward = || {
            let mut out = vec![0.0; b * t * d];
            let mut att = vec![0.0; b * h * t * t];
            attention_forward(&mut out, &mut att, &qkv, b, t, d, h);
            (out, att)
        };
        same_bits_for_every_split("attention_forward", || {
            let (mut out, att) = forward();
            out.extend(att);
            out
        });
        let (_, att) = forward();
        same_bits_for_every_split("attention_backward", || {
            let mut dqkv = vec![0.0; b * t * 3 * d];
            attention_backward(&mut dqkv, &dout, &qkv, &att, b, t, d, h);
            dqkv
        });
    }
}

#[test]
fn row_wise_layers_split_over_cores_give_the_same_bits() {
    let _turn = turn();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // The default model's shapes: 32 × 64 rows of 32 channels, a 128-wide MLP, 256 bytes;
    // the GELU's elements not a whole number of runs of 64.
    let (n, d, f, v) = (2048, 32, 128, 256);
    {
        let _h = Helpers::set(7);
        assert!(
            par::parts(n, 8 * d) > 2
                && par::parts(n, 4 * v) > 2
                && par::parts(n * f / 64, 64 * 8) > 2
        );
    }
    let x = random(&mut rng, n * d);
    let (g, b) = (random(&mut rng, d), random(&mut rng, d));
    let dy = random(&mut rng, n * d);
    let norm = || {
        let (mut out, mut mean, mut rstd) = (vec![0.0; n * d], vec![0.0; n], vec![0.0; n]);
        layernorm_forward(&mut out, &mut mean, &mut rstd, &x, &g, &b, d);
        (out, mean, rstd)
    };
    same_bits_for_every_split("layernorm_forward", || {
        let (mut out, mean, rstd) = norm();
        out.extend(mean);
        out.extend(rstd);
        out
    });
    let (_, mean, rstd) = norm();
    let dgb = random(&mut rng, 2 * d);
    same_bits_for_every_split("layernorm_backward", || {
        let mut dinp = vec![0.0; n * d];
        let (mut dg, mut db) = (dgb[..d].to_vec(), dgb[d..].to_vec());
        layernorm_backward(&mut dinp, &mut dg, &mut db, &dy, &x, &g, &mean, &rstd, d);
        dinp.extend(dg);
        dinp.extend(db);
        dinp
    });
    let u = random(&mut rng, n * f + 5);
    let du = random(&mut rng, n * f + 5);
    let gelu = || {
        let (mut out, mut tanh) = (vec![0.0; u.len()], vec![0.0; u.len()]);
        gelu_forward_keep(&mut out, &mut tanh, &u);
        (out, tanh)
    };
    same_bits_for_every_split("gelu_forward_keep", || {
        let (mut out, tanh) = gelu();
        out.extend(tanh);
        out
    });
    let (_, tanh) = gelu();
    same_bits_for_every_split("gelu_backward_kept", || {
        let mut dinp = vec![0.0; u.len()];
        gelu_backward_kept(&mut dinp, &u, &tanh, &du);
        dinp
    });
    let logits: Vec<f32> = random(&mut rng, n * v).iter().map(|z| z * 8.0).collect();
    let targets: Vec<u8> = (0..n).map(|_| rng.random::<u8>()).collect();
    same_bits_for_every_split("crossentropy_forward", || {
        let mut probs = vec![0.0; n * v];
        let loss = crossentropy_forward(&mut probs, &logits, &targets, v);
        probs.extend(
            loss.to_ne_bytes()
                .chunks(4)
                .map(|c| f32::from_bits(u32::from_ne_bytes(c.try_into().unwrap()))),
        );
        probs
    });
    let probs = random(&mut rng, n * v);
    same_bits_for_every_split("crossentropy_backward", || {
        let mut dlogits = vec![0.0; n * v];
        crossentropy_backward(&mut dlogits, &probs, &targets, v, targets.len());
        dlogits
    });
}

/// A model whose products are split (the micro ones of other tests are too small to be).
fn wide() -> ModelConfig {
    ModelConfig {
        n_layer: 2,
        d_model: 32,
        n_head: 4,
        d_ff: 64,
        ctx: 32,
        ..ModelConfig::default()
    }
}

#[test]
fn training_on_several_cores_gives_the_weights_and_losses_of_one() {
    let _turn = turn();
    let cfg = TrainConfig {
        model: wide(),
        batch: 8,
        steps: 12,
        eval_every: 6,
        eval_batches: 2,
        ..TrainConfig::default()
    };
    let run = |helpers: usize| {
        let _h = Helpers::set(helpers);
        train_cpu(&cfg, None, &mut |_, _| Ok(())).unwrap()
    };
    let (state, log) = run(0);
    assert!(log.train_loss.iter().all(|l| l.is_finite()) && log.train_loss.len() == 12);
    for helpers in [1, 2, 7] {
        let (s, l) = run(helpers);
        assert!(
            bits(&s.params) == bits(&state.params),
            "{helpers} helpers: other weights"
        );
        assert!(
            bits(&s.m) == bits(&state.m) && bits(&s.v) == bits(&state.v),
            "{helpers} helpers: other AdamW moments"
        );
        let loss_bits = |l: &[f64]| l.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            loss_bits(&l.train_loss),
            loss_bits(&log.train_loss),
            "{helpers} helpers"
        );
        assert_eq!(
            loss_bits(&l.eval_loss),
            loss_bits(&log.eval_loss),
            "{helpers} helpers"
        );
    }
}

struct Quiet;

impl Host for Quiet {
    async fn progress(&mut self, _: &Progress) -> Result<(), Error> {
        Ok(())
    }
    fn budget_done(&mut self, _: &experiment::ExperimentResults) {}
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// An experiment config from `json` with the `wide` model.
fn wsd_config(json: &str) -> ExperimentConfig {
    let mut cfg = ExperimentConfig::from_json(json).unwrap();
    cfg.model = wide();
    cfg.validate().unwrap();
    cfg
}

/// Results as JSON without their wall time.
fn json(r: &experiment::ExperimentResults) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("elapsed_s");
    v
}

#[test]
fn idle_threads_joining_a_wsd_chain_give_the_serial_results() {
    let _turn = turn();
    let cfg = wsd_config(
        r#"{"batch": 8, "micro_batches": 4, "eval_batches": 2,
            "pretrain": {"budgets": [4096, 8192], "protocol": "wsd"},
            "perturb": {"gammas": [1.0], "draws": 2},
            "finetune": {"lrs": [0.001], "l2": [0.0], "steps": 4, "seeds": 1}}"#,
    );
    let serial = run_ready(experiment::run(&cfg, &mut Engines::cpu(), &mut Quiet, None)).unwrap();
    for threads in [2, 3, 8] {
        let parallel =
            pollster::block_on(experiment::run_threads(&cfg, threads, &mut Quiet, None)).unwrap();
        assert_eq!(json(&parallel), json(&serial), "{threads} threads");
    }
}

/// A step's micro-batches (src/transformer/micro.rs) add up to the whole batch: one
/// micro-batch is the whole batch's forward and backward pass bit for bit; 2, 3 and 5 (the
/// last two uneven over 5 sequences) give its loss and gradient up to rounding, each
/// micro-batch weighted by its rows; and the same bits on any number of cores.
#[test]
fn micro_batches_add_up_to_the_whole_batch_on_any_number_of_cores() {
    use overtrain::transformer::micro::{split, MicroBatches};
    use overtrain::transformer::model::{backward, forward};
    use overtrain::transformer::params::Layout;
    let _turn = turn();
    let cfg = wide();
    let layout = Layout::new(&cfg);
    let (b, t) = (5, cfg.ctx);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let params: Vec<f32> = layout
        .init(1)
        .iter()
        .map(|p| p + (rng.random::<f32>() - 0.5) * 0.02)
        .collect();
    let x: Vec<u8> = (0..b * t).map(|_| rng.random_range(0..200) as u8).collect();
    let y: Vec<u8> = (0..b * t).map(|_| rng.random_range(0..200) as u8).collect();
    let (loss, acts) = forward(&cfg, &layout, &params, &x, &y, b, t);
    let mut whole = vec![0.0f32; layout.total];
    backward(&cfg, &layout, &params, &mut whole, &acts, &x, &y);
    let scale = whole.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    assert_eq!(split(5, 3), vec![0..2, 2..4, 4..5]);
    assert_eq!(split(5, 9).len(), 5, "at least one sequence each");
    for count in [1, 2, 3, 5] {
        let run = |helpers: usize| {
            let _h = Helpers::set(helpers);
            let mut micro = MicroBatches::new(&cfg, layout.total, b, t, count);
            let mut grads = vec![f32::NAN; layout.total];
            let l = micro.gradient(&cfg, &layout, &params, &x, &y, &mut grads);
            let forward_only = micro.forward(&cfg, &layout, &params, &x, &y);
            assert_eq!(
                l.to_bits(),
                forward_only.to_bits(),
                "{count}: the same loss"
            );
            (l, grads)
        };
        let (l, grads) = run(0);
        if count == 1 {
            assert_eq!(
                l.to_bits(),
                loss.to_bits(),
                "one micro-batch: the whole batch"
            );
            assert!(
                bits(&grads) == bits(&whole),
                "one micro-batch: the whole batch"
            );
        } else {
            assert!(
                ((l - loss) / loss).abs() < 1e-12,
                "{count}: loss {l} vs {loss}"
            );
            let err = grads
                .iter()
                .zip(&whole)
                .fold(0.0f32, |m, (a, w)| m.max((a - w).abs()));
            assert!(
                err <= 1e-5 * scale,
                "{count} micro-batches: gradient off by {err}"
            );
            assert!(
                bits(&grads) != bits(&whole),
                "{count}: the sums' order differs"
            );
        }
        for helpers in [1, 2, 7] {
            let (l2, g2) = run(helpers);
            assert_eq!(
                l2.to_bits(),
                l.to_bits(),
                "{count} micro-batches, {helpers} helpers"
            );
            assert!(
                bits(&g2) == bits(&grads),
                "{count} micro-batches, {helpers} helpers"
            );
        }
    }
}

/// Other workers' micro-batches (the page's idle Web Workers, src/web/parts.rs), played
/// here by a remote that computes each job it is sent with `PartBuffers`, as a helping
/// worker does: `helpers` of them, counting the jobs.
/// A job as sent: the model, the weights, its inputs and targets, the batch's bytes.
type SentJob = (ModelConfig, Vec<f32>, Vec<u8>, Vec<u8>, usize);

struct FakeHelpers {
    helpers: usize,
    sent: std::cell::RefCell<Vec<SentJob>>,
    jobs: std::cell::Cell<usize>,
    used: std::cell::RefCell<std::collections::BTreeSet<usize>>,
}

impl overtrain::transformer::micro::RemoteParts for FakeHelpers {
    fn helpers(&self) -> usize {
        self.helpers
    }
    fn send(
        &self,
        model: &ModelConfig,
        params: &[f32],
        jobs: &[overtrain::transformer::micro::PartJob<'_>],
    ) -> Result<(), Error> {
        let mut sent = self.sent.borrow_mut();
        assert!(sent.is_empty(), "one step's jobs at a time");
        for j in jobs {
            assert!(j.helper < self.helpers);
            self.used.borrow_mut().insert(j.helper);
            sent.push((
                model.clone(),
                params.to_vec(),
                j.x.to_vec(),
                j.y.to_vec(),
                j.batch_bytes,
            ));
        }
        Ok(())
    }
    fn receive(
        &self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<Vec<overtrain::transformer::micro::PartAnswer>, Error>,
                > + '_,
        >,
    > {
        use overtrain::transformer::micro::{PartAnswer, PartBuffers};
        use overtrain::transformer::params::Layout;
        let jobs = std::mem::take(&mut *self.sent.borrow_mut());
        self.jobs.set(self.jobs.get() + jobs.len());
        Box::pin(async move {
            Ok(jobs
                .into_iter()
                .map(|(model, params, x, y, n)| {
                    let layout = Layout::new(&model);
                    let rows = x.len() / model.ctx;
                    let mut part = PartBuffers::new(&model, layout.total, rows, model.ctx);
                    part.gradient(&model, &layout, &params, &x, &y, n);
                    PartAnswer {
                        loss: part.loss,
                        grads: part.grads,
                    }
                })
                .collect())
        })
    }
}

/// A unit's steps with some micro-batches computed elsewhere (the page's helpers) give the
/// bits of its own: a wsd experiment in 5 micro-batches, with SAM's second gradient too,
/// with 1, 2 and 4 helpers (more than the micro-batches allow: the extra ones get nothing).
#[test]
fn micro_batches_computed_by_helpers_give_the_bits_of_one_worker() {
    let _turn = turn();
    let _h = Helpers::set(0);
    let cfg = wsd_config(
        r#"{"batch": 5, "micro_batches": 5, "eval_batches": 2,
            "pretrain": {"budgets": [2560, 5120], "protocol": "wsd", "sam_rho": 0.05},
            "perturb": {"gammas": [1.0], "draws": 2},
            "finetune": {"lrs": [0.001], "l2": [0.0], "steps": 4, "seeds": 1}}"#,
    );
    let alone = run_ready(experiment::run(&cfg, &mut Engines::cpu(), &mut Quiet, None)).unwrap();
    for helpers in [1, 2, 4] {
        let remote = std::rc::Rc::new(FakeHelpers {
            helpers,
            sent: Default::default(),
            jobs: Default::default(),
            used: Default::default(),
        });
        let mut engines = Engines::cpu();
        engines.share_with(remote.clone());
        let helped = run_ready(experiment::run(&cfg, &mut engines, &mut Quiet, None)).unwrap();
        assert_eq!(json(&helped), json(&alone), "{helpers} helpers");
        // Every pre-training step sent micro-batches away, one to each helper the 5 allow
        // (SAM: twice); the largest budget's curve is as many steps as were trained for it.
        let steps = helped.raw.train_loss.last().map_or(0, Vec::len);
        assert!(steps > 0);
        assert!(
            remote.jobs.get() >= 2 * steps * helpers.min(4),
            "{helpers} helpers: {} jobs for {steps} steps",
            remote.jobs.get()
        );
        assert_eq!(remote.used.borrow().len(), helpers.min(4));
    }
}
