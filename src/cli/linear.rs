//! `overtrain linear`: the linear transfer lab (science.md §2) from a config.

use super::atomic::write_file;
use super::device::{open_gpu, BackendOption};
use super::input::read_config;
use super::lock::lock_output;
use super::output::{io, pretty, print_out, say, Failure};
use overtrain::linear::{self, LinearConfig};
use overtrain::plot;
use std::path::PathBuf;
use std::time::Instant;

/// Run the linear transfer lab: the paper's two-layer linear model, pre-trained, perturbed
/// and fine-tuned
///
/// Writes the results as JSON to --out (and the plots to --svg). An invalid config exits
/// with code 2, naming the field and what it allows.
#[derive(clap::Args)]
pub struct LinearArgs {
    /// The config (JSON; omitted fields take defaults; '-' reads stdin)
    #[arg(
        long,
        value_name = "CONFIG.json",
        required_unless_present = "print_default_config"
    )]
    config: Option<PathBuf>,
    /// The results JSON file
    #[arg(
        long,
        value_name = "RESULTS.json",
        required_unless_present = "print_default_config"
    )]
    out: Option<PathBuf>,
    /// Also write the plots as SVG files into DIR
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendOption,
    /// Print the default config and exit
    #[arg(long)]
    print_default_config: bool,
}

pub fn run(args: LinearArgs) -> Result<(), Failure> {
    if args.print_default_config {
        return print_out(&pretty(&LinearConfig::default()));
    }
    let (Some(config), Some(out)) = (&args.config, &args.out) else {
        return Err(Failure::Usage("--config and --out are required".into()));
    };
    let backend = args.backend.choice;
    let config = LinearConfig::from_json(&read_config(config)?)?;
    let _lock = lock_output(out, "linear")?;
    let gpu = open_gpu(backend)?;

    let start = Instant::now();
    let mut results = pollster::block_on(linear::run_on(&config, backend, gpu.as_ref()))?;
    results.elapsed_ms = Some(start.elapsed().as_secs_f64() * 1e3);

    write_file(out, results.to_json().as_bytes())?;
    if let Some(pd) = results.pretrain_diverged_at {
        say!("warning: pre-training diverged at step {pd}");
    }
    for c in &results.finetune {
        if let Some(step) = c.diverged_at {
            say!(
                "warning: fine-tuning with lr {} and l2 {} diverged at step {step} (from checkpoints {:?})",
                c.lr,
                c.l2,
                c.diverged_checkpoints
            );
        }
    }
    if let Some(dir) = &args.svg {
        let plots = plot::linear::all_plots(&results, &plot::PlotOptions::default());
        plot::write_svgs(dir, plots).map_err(io)?;
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
