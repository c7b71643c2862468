//! What a command reads: a config file (`--config -` reads stdin), and which experiment a
//! command is about (`--preset NAME` or `--config EXP.json`).

use super::output::{io, Failure};
use clap::builder::PossibleValuesParser;
use overtrain::experiment::{config::PRESETS, ExperimentConfig};
use std::path::{Path, PathBuf};

/// The text of the config at `path`; `-` reads stdin. A file that cannot be read is bad
/// input (exit 2, naming it); a failing stdin is an I/O error (exit 1).
pub fn read_config(path: &Path) -> Result<String, Failure> {
    if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| io(format!("cannot read config from stdin: {e}")))
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read config '{}': {e}", path.display())))
    }
}

/// `--preset NAME | --config EXP.json`: the experiment of `experiment` and `data`. The
/// group `source` requires one of them (`experiment` adds `--print-default-config` to it).
#[derive(clap::Args)]
#[group(id = "source", required = true, multiple = false)]
pub struct ExperimentSource {
    /// A built-in experiment
    #[arg(long, value_name = "NAME", value_parser = PossibleValuesParser::new(PRESETS))]
    preset: Option<String>,
    /// The experiment config (JSON; omitted fields take defaults; '-' reads stdin)
    #[arg(long, value_name = "EXP.json")]
    config: Option<PathBuf>,
}

impl ExperimentSource {
    /// The experiment's config: the preset's, or the file's (validated).
    pub fn load(&self) -> Result<ExperimentConfig, Failure> {
        match (&self.preset, &self.config) {
            (Some(name), _) => ExperimentConfig::preset(name).ok_or_else(|| {
                Failure::Usage(format!(
                    "unknown preset '{name}'; presets are {}",
                    PRESETS.join(", ")
                ))
            }),
            (None, Some(path)) => Ok(ExperimentConfig::from_json(&read_config(path)?)?),
            (None, None) => Err(Failure::Usage("give either --preset or --config".into())),
        }
    }
}
