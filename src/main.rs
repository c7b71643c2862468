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
    cli::main()
}

/// The command line is native only; the wasm build of this crate is the page's library.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    /// A line on stderr. A closed or full stderr cannot report anything, so its errors are
    /// ignored: never a panic, whatever happens to the terminal or pipe.
    macro_rules! say {
        ($($arg:tt)*) => {{
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), $($arg)*);
        }};
    }

    /// A progress line on stderr, without a newline (see [`say`]).
    macro_rules! say_inline {
        ($($arg:tt)*) => {{
            use std::io::Write as _;
            let mut err = std::io::stderr();
            let _ = write!(err, $($arg)*);
            let _ = err.flush();
        }};
    }

    use overtrain::backend::{resolve_backend, Backend, BackendChoice};
    use overtrain::gpu::Gpu;
    use overtrain::linear::{self, LinearConfig};
    use overtrain::plot;
    use overtrain::Error;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Instant;

    const USAGE: &str = "usage:
  overtrain experiment (--preset quick|paper | --config EXP.json) --out RESULTS.json [--svg DIR] [--backend cpu|gpu|auto] [--resume] [--threads N]
  overtrain experiment (--preset NAME | --config EXP.json) --plan [--shard K/N]
  overtrain experiment (--preset NAME | --config EXP.json) --shard K/N|slurm --out PART.json [--checkpoints DIR] [--threads N]
  overtrain merge --out RESULTS.json [--svg DIR] PART.json…
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
  --threads N              experiment on the CPU: run its independent units (budgets,
                           perturbations, fine-tuning runs) on N threads (default: every
                           core); the results are the same for every N
  --plan                   experiment: print its units of work (id, kind, budget, lr, λ, seed,
                           estimated FLOPs; with --shard K/N, shard K's) and their count
  --shard K/N              experiment: run only shard K's units (of N, 0 ≤ K < N, balanced by
                           cost) and write their raw outputs to --out as a part for merge;
                           'slurm' takes K and N from SLURM_ARRAY_TASK_ID and _COUNT
  --checkpoints DIR        with --shard: share pre-trained checkpoints through DIR (a shared
                           filesystem) instead of recomputing those of other shards
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

    /// Writes `text` and a newline to stdout; a closed or full stdout is an I/O failure
    /// (exit 1), not a panic.
    fn print_out(text: &str) -> Result<(), Failure> {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| io(format!("cannot write to standard output: {e}")))
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Usage(msg)) => {
                say!("error: {msg}");
                ExitCode::from(2)
            }
            Err(Failure::Run(Error::Cancelled)) => {
                say!("stopped (Ctrl-C)");
                ExitCode::from(Error::Cancelled.exit_code())
            }
            Err(Failure::Run(e)) => {
                say!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        }
    }

    fn run(args: &[String]) -> Result<(), Failure> {
        match args.first().map(String::as_str) {
            Some("linear") => linear_command(&args[1..]),
            Some("train") => train_command(&args[1..]),
            Some("experiment") => experiment_command(&args[1..]),
            Some("merge") => merge_command(&args[1..]),
            Some("-h") | Some("--help") | Some("help") => print_out(USAGE),
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
        threads: Option<usize>,
        plan: bool,
        shard: Option<String>,
        checkpoints: Option<PathBuf>,
        /// `merge`: the part files.
        files: Vec<PathBuf>,
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
                threads: None,
                plan: false,
                shard: None,
                checkpoints: None,
                files: Vec::new(),
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
                    "--threads" if allowed.contains(&"--threads") => {
                        let text = value("--threads")?;
                        o.threads = match text.parse::<usize>() {
                            Ok(n) if (1..=1024).contains(&n) => Some(n),
                            _ => {
                                return Err(Failure::Usage(format!(
                                    "--threads must be an integer in 1..=1024, got '{}'",
                                    overtrain::error::quote(&text)
                                )))
                            }
                        };
                    }
                    "--plan" if allowed.contains(&"--plan") => o.plan = true,
                    "--shard" if allowed.contains(&"--shard") => o.shard = Some(value("--shard")?),
                    "--checkpoints" if allowed.contains(&"--checkpoints") => {
                        o.checkpoints = Some(PathBuf::from(value("--checkpoints")?))
                    }
                    "--preset" => o.preset = Some(value("--preset")?),
                    "--print-default-config" => o.print_default = true,
                    "--backend" => {
                        o.backend = value("--backend")?
                            .parse()
                            .map_err(|e| Failure::Usage(format!("{e}\n{USAGE}")))?
                    }
                    "-h" | "--help" => {
                        print_out(USAGE)?;
                        return Ok(None);
                    }
                    file if allowed.contains(&"FILES") && !file.starts_with('-') => {
                        o.files.push(PathBuf::from(file))
                    }
                    other => {
                        return Err(Failure::Usage(format!(
                            "unknown option '{}'\n{USAGE}",
                            overtrain::error::quote(other)
                        )))
                    }
                }
            }
            Ok(Some(o))
        }

        /// The config text (`-` reads stdin) and the output path, both required.
        fn config_and_out(&self) -> Result<(String, PathBuf), Failure> {
            let text = self.config_text()?;
            Ok((text, self.out()?))
        }

        /// The output path, required.
        fn out(&self) -> Result<PathBuf, Failure> {
            self.out
                .clone()
                .ok_or_else(|| Failure::Usage(format!("--out is required\n{USAGE}")))
        }

        /// The config text (`-` reads stdin), required.
        fn config_text(&self) -> Result<String, Failure> {
            let path = self
                .config
                .as_ref()
                .ok_or_else(|| Failure::Usage(format!("--config is required\n{USAGE}")))?;
            let text = if path == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| io(format!("cannot read config from stdin: {e}")))?
            } else {
                std::fs::read_to_string(path)
                    .map_err(|e| Failure::Usage(format!("cannot read config '{path}': {e}")))?
            };
            Ok(text)
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
                say!("auto: {e}; running on the CPU");
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
                say!("auto: {why}; running on the CPU");
                Ok(None)
            }
        }
    }

    /// Set by Ctrl-C (SIGINT): `train` and `experiment` stop at their next loss read-back,
    /// save what is finished and exit with 130. A second Ctrl-C exits at once.
    static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    fn catch_interrupts() {
        use std::sync::atomic::Ordering;
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }

    fn interrupted() -> Result<(), Error> {
        if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// This machine's memory in bytes (Linux: /proc/meminfo), if it can be read.
    fn machine_memory() -> Option<u64> {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Refuses, before anything is allocated, a run on the CPU that needs more memory than
    /// this machine has (a config error on `model`, exit 2, naming the sizes).
    fn check_cpu_memory(
        memory: &overtrain::transformer::model::CpuMemoryEstimate,
    ) -> Result<(), Failure> {
        let Some(have) = machine_memory() else {
            return Ok(());
        };
        if memory.total() > have {
            return Err(overtrain::ConfigError::new(
                "model",
                format!(
                    "training on the CPU needs {:.1} GB ({}), this machine has {:.1} GB: \
                     shrink the model, the batch or the context",
                    memory.total() as f64 / 1e9,
                    memory.describe(),
                    have as f64 / 1e9
                ),
            )
            .into());
        }
        Ok(())
    }

    /// "45 s", "12 min", "3.2 h", "41 days".
    fn duration(seconds: f64) -> String {
        match seconds {
            s if s < 90.0 => format!("{s:.0} s"),
            s if s < 5400.0 => format!("{:.0} min", s / 60.0),
            s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
            s => format!("{:.0} days", s / 86_400.0),
        }
    }

    /// Says how long `tokens` training tokens will take on the CPU, from two timed steps of
    /// the model (`device` None) — before a run that may be long.
    fn say_cpu_estimate(
        model: &overtrain::transformer::config::ModelConfig,
        batch: usize,
        tokens: f64,
    ) -> Result<(), Failure> {
        let start = Instant::now();
        let now = || start.elapsed().as_secs_f64() * 1e3;
        let probe = pollster::block_on(overtrain::transformer::bench::train_throughput(
            None, model, batch, 1, &now,
        ))?;
        say!(
            "estimated time on the CPU: {} ({:.0} training tokens at {:.0} tokens/s)",
            duration(tokens / probe.tokens_per_second),
            tokens,
            probe.tokens_per_second
        );
        Ok(())
    }

    /// Plain data as pretty JSON.
    fn pretty<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string_pretty(value).expect("plain data")
    }

    /// Writes an output file so that an interruption never leaves half of it: a regular
    /// file or a new path through a temporary file beside it, renamed over it. A symlink
    /// is followed to the file it names; a device, pipe or other special file is written
    /// in place (as the shell's `>` would: `--out /dev/null` works).
    fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
        let fail = |e: std::io::Error| io(format!("cannot write '{}': {e}", path.display()));
        let mut target = path.to_path_buf();
        for _ in 0..40 {
            match std::fs::symlink_metadata(&target) {
                Ok(m) if m.file_type().is_symlink() => {
                    let link = std::fs::read_link(&target).map_err(fail)?;
                    target = match target.parent() {
                        Some(dir) if link.is_relative() => dir.join(link),
                        _ => link,
                    };
                }
                _ => break,
            }
        }
        match std::fs::metadata(&target) {
            Ok(m) if m.is_dir() => Err(io(format!(
                "cannot write '{}': it is a directory",
                path.display()
            ))),
            Ok(m) if !m.is_file() => std::fs::write(&target, bytes).map_err(fail),
            _ => {
                let name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_else(|| "out".into());
                let tmp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
                let written =
                    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &target));
                if written.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                written.map_err(fail)
            }
        }
    }

    /// `overtrain train`: trains a small transformer on the synthetic pre-training language
    /// and writes DIR/config.json, DIR/model.safetensors and DIR/log.json, each atomically.
    /// log.json says `"status": "running"` from the start (a run killed before it finished
    /// leaves that, and no stale model.safetensors), then `done` or, after Ctrl-C,
    /// `interrupted` (the weights then are those of the last step taken).
    fn train_command(args: &[String]) -> Result<(), Failure> {
        use overtrain::transformer::{checkpoint, gpu, model, params::Layout, train};
        let Some(options) = Options::parse(args, &[])? else {
            return Ok(());
        };
        if options.print_default {
            let text =
                serde_json::to_string_pretty(&train::TrainConfig::default()).expect("plain data");
            return print_out(&text);
        }
        let (text, out) = options.config_and_out()?;
        let config = train::TrainConfig::from_json(&text)?;
        catch_interrupts();
        let layout = Layout::new(&config.model);
        let memory = gpu::memory_estimate(&config.model, config.batch, config.eval_batches);
        say!(
            "model: {} parameters; GPU memory {}",
            layout.total,
            memory.describe()
        );
        let device = choose_device(options.backend, |g| memory.fits(&g.limits))?;
        if device.is_none() {
            check_cpu_memory(&model::cpu_memory_estimate(
                &config.model,
                config.batch,
                config.eval_batches,
            ))?;
            let tokens = (config.steps * config.batch * config.model.ctx) as f64;
            say_cpu_estimate(&config.model, config.batch, tokens)?;
        }
        std::fs::create_dir_all(&out)
            .map_err(|e| io(format!("cannot create '{}': {e}", out.display())))?;
        write_file(&out.join("config.json"), pretty(&config).as_bytes())?;
        write_file(
            &out.join("log.json"),
            pretty(&train::TrainLog::default()).as_bytes(),
        )?;
        match std::fs::remove_file(out.join("model.safetensors")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(format!(
                    "cannot replace '{}': {e}",
                    out.join("model.safetensors").display()
                )))
            }
            _ => {}
        }
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
                say_inline!(
                    "\rstep {step}/{total}  loss {loss:.3}  {rate:.0} tok/s  ETA {eta:.0} s   "
                );
            }
            interrupted()
        };
        let (params, log) = match &device {
            None => {
                say!("training on the CPU");
                train::train_cpu(&config, &mut progress)?
            }
            Some(g) => {
                say!(
                    "training on the GPU: {} ({}{})",
                    g.adapter.name,
                    g.adapter.backend,
                    if g.adapter.software { ", software" } else { "" }
                );
                pollster::block_on(train::train_gpu(g, &config, &mut progress))?
            }
        };
        say!();
        write_file(
            &out.join("model.safetensors"),
            &checkpoint::to_safetensors(&config.model, &layout, &params),
        )?;
        write_file(&out.join("log.json"), pretty(&log).as_bytes())?;
        if let Some(step) = log.diverged_at {
            say!("diverged at step {step}: stopped before its update, kept the last good weights");
        }
        if log.status == train::RunStatus::Interrupted {
            say!(
                "interrupted after {} steps: the weights of that step and the log are in {}",
                log.steps.len(),
                out.display()
            );
            return Err(Error::Cancelled.into());
        }
        if let (Some(step), Some(loss)) = (log.eval_steps.last(), log.eval_loss.last()) {
            say!(
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
                say_inline!(
                    "\r\x1b[K{:>3.0}%  {} ({}/{}){loss}  ETA {eta:.0} s",
                    100.0 * p.work_done / p.work_total,
                    p.label,
                    p.step,
                    p.steps
                );
            }
            interrupted()
        }
        fn budget_done(&mut self, partial: &overtrain::experiment::ExperimentResults) {
            say!("\r\x1b[K{}", budget_summary(partial));
            if let Err(Failure::Run(e)) = write_file(&self.out, pretty(partial).as_bytes()) {
                say!("warning: the results so far are not saved: {e}");
            }
        }
        fn now_ms(&self) -> f64 {
            self.start.elapsed().as_secs_f64() * 1e3
        }
    }

    /// `--shard K/N`, or `slurm` (K and N from the Slurm array task's environment).
    fn shard_of(text: &str) -> Result<overtrain::experiment::shard::Shard, Failure> {
        use overtrain::experiment::shard::Shard;
        let shard = if text == "slurm" {
            Shard::from_slurm(|name| std::env::var(name).ok())
        } else {
            text.parse()
        };
        shard.map_err(Failure::Usage)
    }

    /// `--plan`: every unit of work (or shard K's), one line each, and their count.
    fn print_plan(
        config: &overtrain::experiment::ExperimentConfig,
        shard: Option<overtrain::experiment::shard::Shard>,
    ) -> Result<(), Failure> {
        use overtrain::experiment::shard::plan_lines;
        let lines = plan_lines(config, shard.map(|s| s.n));
        let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let mut text = String::from("id\tkind\tbudget\tlr\tl2\tseed\tflops\tshard\n");
        let mut count = 0;
        let mut flops = 0.0;
        for l in &lines {
            if shard.is_some_and(|s| l.shard != Some(s.k)) {
                continue;
            }
            count += 1;
            flops += l.flops;
            let kind = serde_json::to_value(l.unit).expect("plain data")["kind"]
                .as_str()
                .unwrap_or("")
                .to_string();
            text += &format!(
                "{}\t{kind}\t{}\t{}\t{}\t{}\t{:.3e}\t{}\n",
                l.id,
                l.budget_tokens,
                show(l.lr.map(|x| x.to_string())),
                show(l.l2.map(|x| x.to_string())),
                show(l.seed.map(|x| x.to_string())),
                l.flops,
                show(l.shard.map(|x| x.to_string()))
            );
        }
        text += &format!("{count} units, {flops:.3e} FLOPs");
        print_out(&text)
    }

    /// `--shard K/N --out PART.json`: runs shard K's units on the CPU and writes its part.
    fn shard_command(
        config: &overtrain::experiment::ExperimentConfig,
        shard: overtrain::experiment::shard::Shard,
        options: &Options,
        out: &std::path::Path,
    ) -> Result<(), Failure> {
        use overtrain::experiment::shard::{run_shard, Checkpoints};
        if options.backend == BackendChoice::Gpu || options.resume {
            return Err(Failure::Usage(
                "--shard runs on the CPU and starts afresh (no --backend gpu, no --resume)".into(),
            ));
        }
        check_cpu_memory(&overtrain::transformer::model::cpu_memory_estimate(
            &config.model,
            config.batch,
            config.eval_batches,
        ))?;
        catch_interrupts();
        let checkpoints = options
            .checkpoints
            .as_deref()
            .map(|dir| Checkpoints::new(dir, config))
            .transpose()?;
        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        say!(
            "shard {}/{}: {} of {} units, on {threads} thread{}{}",
            shard.k,
            shard.n,
            overtrain::experiment::shard::assign(config, shard.n)
                .values()
                .filter(|&&s| s == shard.k)
                .count(),
            overtrain::experiment::plan::plan(config).len(),
            if threads > 1 { "s" } else { "" },
            if checkpoints.is_some() {
                ", sharing checkpoints"
            } else {
                ""
            }
        );
        let mut host = Stderr {
            start: Instant::now(),
            last_print: -1.0,
            out: std::path::PathBuf::new(),
        };
        let part = pollster::block_on(run_shard(
            config,
            shard,
            threads,
            checkpoints.as_ref(),
            &mut host,
        ));
        say_inline!("\r\x1b[K");
        let part = part?;
        write_file(out, pretty(&part).as_bytes())?;
        say!(
            "shard {}/{}: {} units in {:.1} s -> {}",
            shard.k,
            shard.n,
            part.units.len(),
            part.elapsed_s,
            out.display()
        );
        Ok(())
    }

    /// `overtrain merge --out RESULTS.json PART…`: an experiment's results from its shards.
    fn merge_command(args: &[String]) -> Result<(), Failure> {
        use overtrain::experiment::shard::{merge, Part};
        let Some(options) = Options::parse(args, &["--svg", "FILES"])? else {
            return Ok(());
        };
        let out = options.out()?;
        if options.files.is_empty() {
            return Err(Failure::Usage(format!("give the part files\n{USAGE}")));
        }
        let mut parts = Vec::new();
        for path in &options.files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("cannot read '{name}': {e}")))?;
            let part: Part =
                serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
                    Error::data(
                        name.clone(),
                        format!(
                            "not an experiment part: {}",
                            overtrain::error::quote(&e.to_string())
                        ),
                    )
                })?;
            parts.push((name, part));
        }
        let results = merge(&parts)?;
        write_file(&out, pretty(&results).as_bytes())?;
        if let Some(dir) = &options.svg {
            plot::write_svgs(
                dir,
                plot::experiment::all_plots(Some(&results), None, &plot::PlotOptions::default()),
            )
            .map_err(io)?;
        }
        say!(
            "merged {} parts: {} budgets, {:.1} s of compute -> {}",
            parts.len(),
            results.budgets.len(),
            results.elapsed_s,
            out.display()
        );
        Ok(())
    }

    /// `overtrain experiment`: the catastrophic-overtraining experiment on transformers.
    fn experiment_command(args: &[String]) -> Result<(), Failure> {
        use overtrain::experiment::{self, ExperimentConfig};
        use overtrain::transformer::{engine::Engine, gpu::memory_estimate, model};
        let allowed = [
            "--svg",
            "--resume",
            "--threads",
            "--plan",
            "--shard",
            "--checkpoints",
        ];
        let Some(options) = Options::parse(args, &allowed)? else {
            return Ok(());
        };
        if options.print_default {
            let text =
                serde_json::to_string_pretty(&ExperimentConfig::default()).expect("plain data");
            return print_out(&text);
        }
        let config = match (&options.preset, &options.config) {
            (Some(name), None) => ExperimentConfig::preset(name).ok_or_else(|| {
                Failure::Usage(format!(
                    "unknown preset '{name}'; presets are {}",
                    experiment::config::PRESETS.join(", ")
                ))
            })?,
            (None, Some(_)) => ExperimentConfig::from_json(&options.config_text()?)?,
            _ => {
                return Err(Failure::Usage(format!(
                    "give either --preset or --config\n{USAGE}"
                )))
            }
        };
        let shard = options.shard.as_deref().map(shard_of).transpose()?;
        if options.plan {
            return print_plan(&config, shard);
        }
        let out = options.out()?;
        if let Some(shard) = shard {
            return shard_command(&config, shard, &options, &out);
        }
        catch_interrupts();
        let resume = if options.resume {
            resume_from(&out, &config)?
        } else {
            None
        };
        let memory = memory_estimate(&config.model, config.batch, config.eval_batches);
        let layout = overtrain::transformer::params::Layout::new(&config.model);
        let budgets = &config.pretrain.budgets;
        say!(
            "model: {} parameters; budgets {} to {} tokens ({:.0} to {:.0} tokens per parameter); GPU memory {}",
            layout.total,
            budgets[0],
            budgets[budgets.len() - 1],
            budgets[0] as f64 / layout.total as f64,
            budgets[budgets.len() - 1] as f64 / layout.total as f64,
            memory.describe()
        );
        let device = choose_device(options.backend, |g| memory.fits(&g.limits))?;
        if device.is_none() {
            check_cpu_memory(&model::cpu_memory_estimate(
                &config.model,
                config.batch,
                config.eval_batches,
            ))?;
            say_cpu_estimate(&config.model, config.batch, experiment::cost(&config).0)?;
        }
        let mut host = Stderr {
            start: Instant::now(),
            last_print: -1.0,
            out: out.clone(),
        };
        let run = match &device {
            Some(g) => {
                let mut engine = Engine::gpu(g, &config.model, config.batch, config.eval_batches)?;
                say!("running on the {}", engine.describe());
                pollster::block_on(experiment::run(&config, &mut engine, &mut host, resume))
            }
            None => {
                let threads = options
                    .threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                say!(
                    "running on the CPU, {threads} thread{}",
                    if threads > 1 { "s" } else { "" }
                );
                pollster::block_on(experiment::run_threads(&config, threads, &mut host, resume))
            }
        };
        say_inline!("\r\x1b[K"); // clears the last progress line
        let results = match run {
            Err(Error::Cancelled) => {
                say!(
                    "interrupted: the finished budgets are saved in '{}'; add --resume to continue",
                    out.display()
                );
                return Err(Error::Cancelled.into());
            }
            other => other?,
        };
        write_file(&out, pretty(&results).as_bytes())?;
        if let Some(dir) = &options.svg {
            plot::write_svgs(
                dir,
                plot::experiment::all_plots(Some(&results), None, &plot::PlotOptions::default()),
            )
            .map_err(io)?;
        }
        let infl = |b: Option<u64>| b.map_or("none".to_string(), |b| b.to_string());
        for p in &results.perturb {
            say!(
                "perturbation γ = {}: inflection {}",
                p.gamma,
                infl(p.inflection_budget)
            );
        }
        for f in &results.finetune {
            say!(
                "fine-tuning lr {} λ {}: inflection {}",
                f.lr,
                f.l2,
                infl(f.inflection_budget)
            );
        }
        say!(
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
                say!(
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
        say!(
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
            return print_out(&text);
        }
        let (text, out) = options.config_and_out()?;
        let (backend, svg) = (options.backend, options.svg);
        let config = LinearConfig::from_json(&text)?;
        let gpu = open_gpu(backend)?;

        let start = Instant::now();
        let mut results = pollster::block_on(linear::run_on(&config, backend, gpu.as_ref()))?;
        results.elapsed_ms = Some(start.elapsed().as_secs_f64() * 1e3);

        write_file(&out, results.to_json().as_bytes())?;
        if let Some(pd) = results.pretrain_diverged_at {
            say!("warning: pre-training diverged at step {pd}");
        }
        for c in &results.finetune {
            if let Some(step) = c.diverged_at {
                say!(
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
        say!(
            "linear lab: {} checkpoints, {} fine-tuning runs, {:.1} ms on the {backend} -> {}",
            results.steps.len(),
            results.steps.len() * results.finetune.len(),
            results.elapsed_ms.unwrap_or(0.0),
            out.display()
        );
        Ok(())
    }
}
