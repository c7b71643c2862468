//! The `overtrain` command line: the same library as the page, natively.
//!
//! ```text
//! overtrain linear --config CONFIG.json --out RESULTS.json [--svg DIR] [--backend cpu|gpu|auto]
//! overtrain linear --print-default-config
//! ```
//! (and `train`, `experiment`: see USAGE). Exit codes: 0 success, 1 a failure of the GPU or
//! of reading and writing, 2 bad usage or bad input (a config, a results file to resume).

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    overtrain::transformer::engine::keep_freed_memory();
    cli::main()
}

/// The command line is native only; the wasm build of this crate is the page's library.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use overtrain::backend::{resolve_backend, Backend, BackendChoice};
    use overtrain::gpu::Gpu;
    use overtrain::linear::{self, LinearConfig};
    use overtrain::plot;
    use overtrain::Error;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Instant;

    const USAGE: &str = "usage:
  overtrain experiment (--preset quick|paper | --config EXP.json) --out RESULTS.json [--svg DIR] [--backend cpu|gpu|auto] [--resume]
  overtrain experiment --print-default-config
  overtrain train --config TRAIN.json --out DIR [--backend cpu|gpu|auto]
  overtrain train --print-default-config
  overtrain linear --config CONFIG.json --out RESULTS.json [--svg DIR] [--backend cpu|gpu|auto]
  overtrain linear --print-default-config

  --backend B              cpu, gpu (WebGPU through wgpu; fails without an adapter) or auto
                           (default: a hardware GPU when the run fits it, else the CPU; a
                           software adapter such as lavapipe is slower than the CPU path)
  --config FILE            experiment config (JSON; omitted fields take defaults; '-' reads stdin)
  --preset NAME            experiment: a built-in experiment (quick, paper)
  --out PATH               linear, experiment: the results JSON file; train: the run folder
  --svg DIR                also write the plots as SVG files into DIR
  --resume                 experiment: continue the unfinished run whose results are in --out
                           (results are written there after every budget)
  --print-default-config   print the default config and exit";

    /// Why a command failed: its arguments (exit 2), or the run (the exit code of its
    /// error's kind, see [`Error::exit_code`]).
    enum Failure {
        Usage(String),
        Run(Error),
    }

    impl From<Error> for Failure {
        fn from(e: Error) -> Failure {
            Failure::Run(e)
        }
    }

    impl From<overtrain::ConfigError> for Failure {
        fn from(e: overtrain::ConfigError) -> Failure {
            Failure::Run(e.into())
        }
    }

    impl From<overtrain::gpu::GpuError> for Failure {
        fn from(e: overtrain::gpu::GpuError) -> Failure {
            Failure::Run(e.into())
        }
    }

    fn io(message: String) -> Failure {
        Failure::Run(Error::Io(message))
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Usage(msg)) => {
                eprintln!("error: {msg}");
                ExitCode::from(2)
            }
            Err(Failure::Run(e)) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        }
    }

    fn run(args: &[String]) -> Result<(), Failure> {
        match args.first().map(String::as_str) {
            Some("linear") => linear_command(&args[1..]),
            Some("train") => train_command(&args[1..]),
            Some("experiment") => experiment_command(&args[1..]),
            Some("-h") | Some("--help") | Some("help") => {
                println!("{USAGE}");
                Ok(())
            }
            Some(other) => Err(Failure::Usage(format!(
                "unknown command '{other}'\n{USAGE}"
            ))),
            None => Err(Failure::Usage(format!("missing command\n{USAGE}"))),
        }
    }

    /// The options of `linear` and `train`.
    struct Options {
        config: Option<String>,
        out: Option<PathBuf>,
        svg: Option<PathBuf>,
        preset: Option<String>,
        backend: BackendChoice,
        print_default: bool,
        resume: bool,
    }

    impl Options {
        /// Parses `args`; of the command-specific options (`--svg`, `--resume`) only those in
        /// `allowed`. `Ok(None)` after `--help`.
        fn parse(args: &[String], allowed: &[&str]) -> Result<Option<Options>, Failure> {
            let mut o = Options {
                config: None,
                out: None,
                svg: None,
                preset: None,
                backend: BackendChoice::Auto,
                print_default: false,
                resume: false,
            };
            let mut it = args.iter();
            while let Some(arg) = it.next() {
                let mut value = |name: &str| {
                    it.next()
                        .cloned()
                        .ok_or_else(|| Failure::Usage(format!("{name} needs a value\n{USAGE}")))
                };
                match arg.as_str() {
                    "--config" => o.config = Some(value("--config")?),
                    "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                    "--svg" if allowed.contains(&"--svg") => {
                        o.svg = Some(PathBuf::from(value("--svg")?))
                    }
                    "--resume" if allowed.contains(&"--resume") => o.resume = true,
                    "--preset" => o.preset = Some(value("--preset")?),
                    "--print-default-config" => o.print_default = true,
                    "--backend" => {
                        o.backend = value("--backend")?
                            .parse()
                            .map_err(|e| Failure::Usage(format!("{e}\n{USAGE}")))?
                    }
                    "-h" | "--help" => {
                        println!("{USAGE}");
                        return Ok(None);
                    }
                    other => {
                        return Err(Failure::Usage(format!("unknown option '{other}'\n{USAGE}")))
                    }
                }
            }
            Ok(Some(o))
        }

        /// The config text (`-` reads stdin) and the output path, both required.
        fn config_and_out(&self) -> Result<(String, PathBuf), Failure> {
            let path = self
                .config
                .as_ref()
                .ok_or_else(|| Failure::Usage(format!("--config is required\n{USAGE}")))?;
            let out = self
                .out
                .clone()
                .ok_or_else(|| Failure::Usage(format!("--out is required\n{USAGE}")))?;
            let text = if path == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| io(format!("cannot read config from stdin: {e}")))?
            } else {
                std::fs::read_to_string(path)
                    .map_err(|e| Failure::Usage(format!("cannot read config '{path}': {e}")))?
            };
            Ok((text, out))
        }
    }

    /// The GPU device, unless the CPU was chosen. Without an adapter, `--backend gpu` fails
    /// and auto says so and goes on without one.
    fn open_gpu(choice: BackendChoice) -> Result<Option<Gpu>, Failure> {
        if choice == BackendChoice::Cpu {
            return Ok(None);
        }
        match pollster::block_on(Gpu::new()) {
            Ok(g) => Ok(Some(g)),
            Err(e) if choice == BackendChoice::Gpu => Err(e.into()),
            Err(e) => {
                eprintln!("auto: {e}; running on the CPU");
                Ok(None)
            }
        }
    }

    /// The GPU to train on, or None for the CPU, by the one rule of [`resolve_backend`]:
    /// `fits` says whether the run fits an adapter. `--backend gpu` on a run that does not
    /// fit fails with that error; auto says why it stays on the CPU.
    fn choose_device(
        choice: BackendChoice,
        fits: impl Fn(&Gpu) -> Result<(), Error>,
    ) -> Result<Option<Gpu>, Failure> {
        let Some(gpu) = open_gpu(choice)? else {
            return Ok(None);
        };
        let fit = fits(&gpu);
        if choice == BackendChoice::Gpu {
            fit?;
            return Ok(Some(gpu));
        }
        let resolved = resolve_backend(choice, Some(&gpu.adapter), fit.is_ok());
        match resolved.backend {
            Backend::Gpu => Ok(Some(gpu)),
            Backend::Cpu => {
                let why = resolved.reason.unwrap_or_default();
                eprintln!("auto: {why}; running on the CPU");
                Ok(None)
            }
        }
    }

    /// `overtrain train`: trains a small transformer on the synthetic pre-training language
    /// and writes DIR/config.json, DIR/model.safetensors and DIR/log.json.
    fn train_command(args: &[String]) -> Result<(), Failure> {
        use overtrain::transformer::{checkpoint, gpu, params::Layout, train};
        let Some(options) = Options::parse(args, &[])? else {
            return Ok(());
        };
        if options.print_default {
            let text =
                serde_json::to_string_pretty(&train::TrainConfig::default()).expect("plain data");
            println!("{text}");
            return Ok(());
        }
        let (text, out) = options.config_and_out()?;
        let config = train::TrainConfig::from_json(&text)?;
        let layout = Layout::new(&config.model);
        let memory = gpu::memory_estimate(&config.model, config.batch, config.eval_batches);
        eprintln!(
            "model: {} parameters; memory {}",
            layout.total,
            memory.describe()
        );
        let device = choose_device(options.backend, |g| memory.fits(&g.limits))?;
        std::fs::create_dir_all(&out)
            .map_err(|e| io(format!("cannot create '{}': {e}", out.display())))?;
        let start = Instant::now();
        let mut last_print = 0.0f64;
        let total = config.steps;
        let tokens_per_step = config.batch * config.model.ctx;
        let mut progress = |step: usize, loss: f64| {
            let elapsed = start.elapsed().as_secs_f64();
            if elapsed - last_print > 0.5 || step == total {
                last_print = elapsed;
                let eta = elapsed / step as f64 * (total - step) as f64;
                let rate = (step * tokens_per_step) as f64 / elapsed.max(1e-9);
                eprint!(
                    "\rstep {step}/{total}  loss {loss:.3}  {rate:.0} tok/s  ETA {eta:.0} s   "
                );
            }
        };
        let (params, log) = match &device {
            None => {
                eprintln!("training on the CPU");
                train::train_cpu(&config, &mut progress)?
            }
            Some(g) => {
                eprintln!(
                    "training on the GPU: {} ({}{})",
                    g.adapter.name,
                    g.adapter.backend,
                    if g.adapter.software { ", software" } else { "" }
                );
                pollster::block_on(train::train_gpu(g, &config, &mut progress))?
            }
        };
        eprintln!();
        let write = |name: &str, bytes: &[u8]| {
            let path = out.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| io(format!("cannot write '{}': {e}", path.display())))
        };
        write(
            "config.json",
            serde_json::to_string_pretty(&config)
                .expect("plain data")
                .as_bytes(),
        )?;
        write(
            "model.safetensors",
            &checkpoint::to_safetensors(&config.model, &layout, &params),
        )?;
        write(
            "log.json",
            serde_json::to_string_pretty(&log)
                .expect("plain data")
                .as_bytes(),
        )?;
        if let Some(step) = log.diverged_at {
            eprintln!(
                "diverged at step {step}: stopped before its update, kept the last good weights"
            );
        }
        if let (Some(step), Some(loss)) = (log.eval_steps.last(), log.eval_loss.last()) {
            eprintln!(
                "held-out loss {loss:.3} nats/byte (perplexity {:.2}) after {step} steps, {:.1} s -> {}",
                loss.exp(),
                start.elapsed().as_secs_f64(),
                out.display()
            );
        }
        Ok(())
    }

    /// The CLI's experiment host: a progress line with ETA on stderr; after each budget, a
    /// summary line and the results so far written to `out`, so that an interrupted run
    /// loses at most one budget (`--resume` continues it).
    struct Stderr {
        start: Instant,
        last_print: f64,
        out: PathBuf,
    }

    /// Writes `text` to `path` through a temporary file, so that an interruption never
    /// leaves half a results file behind.
    fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), String> {
        let tmp = path.with_extension("partial.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write '{}': {e}", path.display()))
    }

    /// One line per finished budget: its base, perturbed and fine-tuned perplexities.
    fn budget_summary(r: &overtrain::experiment::ExperimentResults) -> String {
        let i = r.budgets.len() - 1;
        let ppl = |v: Option<f64>| v.map_or("diverged".to_string(), |v| format!("{v:.2}"));
        let mut line = format!(
            "budget {}/{} ({} tokens): base perplexity {:.2}",
            i + 1,
            r.config.pretrain.budgets.len(),
            r.budgets[i],
            r.base.pretrain_ppl[i]
        );
        for p in &r.perturb {
            line += &format!("; γ {}: {:.2}", p.gamma, p.pretrain_ppl_mean[i]);
        }
        for f in &r.finetune {
            line += &format!(
                "; fine-tuned lr {} λ {}: pre-training {}, task {}",
                f.lr,
                f.l2,
                ppl(f.pretrain_ppl[i]),
                ppl(f.id_ppl[i])
            );
        }
        line
    }

    impl overtrain::experiment::Host for Stderr {
        async fn progress(&mut self, p: &overtrain::experiment::Progress) -> Result<(), Error> {
            let elapsed = self.start.elapsed().as_secs_f64();
            if elapsed - self.last_print > 0.5 {
                self.last_print = elapsed;
                let eta = elapsed / p.work_done.max(1e-9) * (p.work_total - p.work_done);
                let loss = p.loss.map(|l| format!("  loss {l:.3}")).unwrap_or_default();
                eprint!(
                    "\r\x1b[K{:>3.0}%  {} ({}/{}){loss}  ETA {eta:.0} s",
                    100.0 * p.work_done / p.work_total,
                    p.label,
                    p.step,
                    p.steps
                );
            }
            Ok(())
        }
        fn budget_done(&mut self, partial: &overtrain::experiment::ExperimentResults) {
            eprintln!("\r\x1b[K{}", budget_summary(partial));
            let json = serde_json::to_string_pretty(partial).expect("plain data");
            if let Err(e) = write_atomically(&self.out, &json) {
                eprintln!("warning: the results so far are not saved: {e}");
            }
        }
        fn now_ms(&self) -> f64 {
            self.start.elapsed().as_secs_f64() * 1e3
        }
    }

    /// `overtrain experiment`: the catastrophic-overtraining experiment on transformers.
    fn experiment_command(args: &[String]) -> Result<(), Failure> {
        use overtrain::experiment::{self, ExperimentConfig};
        use overtrain::transformer::{engine::Engine, gpu::memory_estimate};
        let Some(options) = Options::parse(args, &["--svg", "--resume"])? else {
            return Ok(());
        };
        if options.print_default {
            let text =
                serde_json::to_string_pretty(&ExperimentConfig::default()).expect("plain data");
            println!("{text}");
            return Ok(());
        }
        let out = options
            .out
            .clone()
            .ok_or_else(|| Failure::Usage(format!("--out is required\n{USAGE}")))?;
        let config = match (&options.preset, &options.config) {
            (Some(name), None) => ExperimentConfig::preset(name).ok_or_else(|| {
                Failure::Usage(format!(
                    "unknown preset '{name}'; presets are {}",
                    experiment::config::PRESETS.join(", ")
                ))
            })?,
            (None, Some(_)) => {
                let (text, _) = options.config_and_out()?;
                ExperimentConfig::from_json(&text)?
            }
            _ => {
                return Err(Failure::Usage(format!(
                    "give either --preset or --config\n{USAGE}"
                )))
            }
        };
        let resume = if options.resume {
            resume_from(&out, &config)?
        } else {
            None
        };
        let memory = memory_estimate(&config.model, config.batch, config.eval_batches);
        let layout = overtrain::transformer::params::Layout::new(&config.model);
        let budgets = &config.pretrain.budgets;
        eprintln!(
            "model: {} parameters; budgets {} to {} tokens ({:.0} to {:.0} tokens per parameter); memory {}",
            layout.total,
            budgets[0],
            budgets[budgets.len() - 1],
            budgets[0] as f64 / layout.total as f64,
            budgets[budgets.len() - 1] as f64 / layout.total as f64,
            memory.describe()
        );
        let device = choose_device(options.backend, |g| memory.fits(&g.limits))?;
        let mut engine = match &device {
            Some(g) => Engine::gpu(g, &config.model, config.batch, config.eval_batches)?,
            None => Engine::cpu(&config.model, config.batch),
        };
        eprintln!("running on the {}", engine.describe());
        let mut host = Stderr {
            start: Instant::now(),
            last_print: -1.0,
            out: out.clone(),
        };
        let results = pollster::block_on(experiment::run(&config, &mut engine, &mut host, resume))?;
        eprint!("\r\x1b[K"); // clears the last progress line
        let json = serde_json::to_string_pretty(&results).expect("plain data");
        write_atomically(&out, &json).map_err(io)?;
        if let Some(dir) = &options.svg {
            plot::write_svgs(dir, plot::experiment::all_plots(Some(&results), None)).map_err(io)?;
        }
        let infl = |b: Option<u64>| b.map_or("none".to_string(), |b| b.to_string());
        for p in &results.perturb {
            eprintln!(
                "perturbation γ = {}: inflection {}",
                p.gamma,
                infl(p.inflection_budget)
            );
        }
        for f in &results.finetune {
            eprintln!(
                "fine-tuning lr {} λ {}: inflection {}",
                f.lr,
                f.l2,
                infl(f.inflection_budget)
            );
        }
        eprintln!(
            "experiment: {} budgets in {:.1} s on the {} -> {}",
            results.budgets.len(),
            results.elapsed_s,
            results.backend,
            out.display()
        );
        Ok(())
    }

    /// The measurements of the unfinished run in `out`, for `--resume`; none (a fresh start)
    /// when `out` does not exist yet.
    fn resume_from(
        out: &std::path::Path,
        config: &overtrain::experiment::ExperimentConfig,
    ) -> Result<Option<overtrain::experiment::Raw>, Failure> {
        let text = match std::fs::read_to_string(out) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "--resume: no results at '{}' yet; starting from the first budget",
                    out.display()
                );
                return Ok(None);
            }
            Err(e) => return Err(io(format!("cannot read '{}': {e}", out.display()))),
        };
        let earlier: overtrain::experiment::ExperimentResults = serde_json::from_str(&text)
            .map_err(|e| {
                Error::data(
                    "resume",
                    format!("'{}' is not an experiment's results: {e}", out.display()),
                )
            })?;
        let done = earlier.budgets.len();
        let raw = earlier.resume_for(config).map_err(|e| match e {
            Error::Data { part, message } => {
                Error::data(part, format!("{message} ('{}')", out.display()))
            }
            other => other,
        })?;
        eprintln!(
            "--resume: {done} of {} budgets already done in '{}'",
            config.pretrain.budgets.len(),
            out.display()
        );
        Ok(Some(raw))
    }

    fn linear_command(args: &[String]) -> Result<(), Failure> {
        let Some(options) = Options::parse(args, &["--svg"])? else {
            return Ok(());
        };
        if options.print_default {
            let text = serde_json::to_string_pretty(&LinearConfig::default()).expect("plain data");
            println!("{text}");
            return Ok(());
        }
        let (text, out) = options.config_and_out()?;
        let (backend, svg) = (options.backend, options.svg);
        let config = LinearConfig::from_json(&text)?;
        let gpu = open_gpu(backend)?;

        let start = Instant::now();
        let mut results = pollster::block_on(linear::run_on(&config, backend, gpu.as_ref()))?;
        results.elapsed_ms = Some(start.elapsed().as_secs_f64() * 1e3);

        std::fs::write(&out, results.to_json())
            .map_err(|e| io(format!("cannot write '{}': {e}", out.display())))?;
        if let Some(pd) = results.pretrain_diverged_at {
            eprintln!("warning: pre-training diverged at step {pd}");
        }
        for c in &results.finetune {
            if let Some(step) = c.diverged_at {
                eprintln!(
                "warning: fine-tuning with lr {} and l2 {} diverged at step {step} (from checkpoints {:?})",
                c.lr, c.l2, c.diverged_checkpoints
            );
            }
        }
        if let Some(dir) = svg {
            let plots = plot::linear::all_plots(&results, &plot::PlotOptions::default());
            plot::write_svgs(&dir, plots).map_err(io)?;
        }
        let backend = match &results.backend {
            Some(b) if b.kind == "gpu" => {
                let a = b.adapter.as_ref().expect("a GPU run names its adapter");
                let soft = if a.software { ", a software GPU" } else { "" };
                format!(
                    "GPU ({} via {}{soft}), {} dispatches",
                    a.name,
                    a.backend,
                    b.dispatches.unwrap_or(0)
                )
            }
            Some(b) => match &b.fallback_reason {
                Some(why) => format!("CPU ({why})"),
                None => "CPU".to_string(),
            },
            None => "CPU".to_string(),
        };
        eprintln!(
            "linear lab: {} checkpoints, {} fine-tuning runs, {:.1} ms on the {backend} -> {}",
            results.steps.len(),
            results.steps.len() * results.finetune.len(),
            results.elapsed_ms.unwrap_or(0.0),
            out.display()
        );
        Ok(())
    }
}
