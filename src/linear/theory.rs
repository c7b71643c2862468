//! The idealized theory of science.md §2, evaluated along the measured run.
//!
//! A direction j counts as *learned* at a checkpoint when its strength diag(Uᵀθ V)_j has
//! reached half its target s_j. With the learned set L taken from the run:
//! - sensitivity to a perturbation of scale γ: 2dγ² Σ_{j∈L} s_j + γ⁴hd²;
//! - fine-tuning to convergence moves a learned direction to (f_j + λs_j)/(1+λ) and leaves
//!   an unlearned one at 0, so after fine-tuning
//!   L_pre = Σ_{j∈L} ((s_j − f_j)/(1+λ))² + Σ_{j∉L} s_j² and
//!   L_ft  = Σ_{j∈L} (λ(f_j − s_j)/(1+λ))² + Σ_{j∉L} f_j².
//!
//! These are idealizations (exact learning, fine-tuning run to convergence); the measured
//! curves differ, which is the point of showing both.

use super::config::LinearConfig;
use crate::inflection::inflection;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Theory {
    /// Number of learned directions at each checkpoint.
    pub learned_directions: Vec<usize>,
    pub perturb: Vec<TheoryPerturb>,
    pub finetune: Vec<TheoryFinetune>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheoryPerturb {
    pub gamma: f64,
    pub sensitivity: Vec<f64>,
    /// Learning direction j lowers the perturbed loss only while s_j > 2dγ².
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheoryFinetune {
    pub l2: f64,
    pub pretrain_loss: Vec<f64>,
    pub finetune_loss: Vec<f64>,
    pub inflection_step: Option<usize>,
}

pub fn theory_curves(
    config: &LinearConfig,
    steps: &[usize],
    singular_values: &[Vec<f64>],
) -> Theory {
    let (d, h) = (config.dim as f64, config.hidden as f64);
    let s = &config.pretrain.spectrum.values(config.dim);
    let f = &config.finetune.spectrum.values(config.dim);
    let learned: Vec<Vec<bool>> = singular_values
        .iter()
        .map(|sv| {
            sv.iter()
                .zip(s)
                .map(|(&x, &sj)| sj > 0.0 && x >= 0.5 * sj)
                .collect()
        })
        .collect();
    let learned_directions = learned
        .iter()
        .map(|l| l.iter().filter(|&&b| b).count())
        .collect();
    let perturb = config
        .perturb
        .gammas
        .iter()
        .map(|&g| TheoryPerturb {
            gamma: g,
            sensitivity: learned
                .iter()
                .map(|l| {
                    let sum: f64 = l.iter().zip(s).filter(|(&b, _)| b).map(|(_, &sj)| sj).sum();
                    2.0 * d * g * g * sum + g.powi(4) * h * d * d
                })
                .collect(),
            threshold: 2.0 * d * g * g,
        })
        .collect();
    let finetune = config
        .finetune
        .l2
        .iter()
        .map(|&lambda| {
            let mut pre = Vec::with_capacity(learned.len());
            let mut ft = Vec::with_capacity(learned.len());
            for l in &learned {
                let (mut lp, mut lf) = (0.0, 0.0);
                for j in 0..s.len() {
                    if l[j] {
                        lp += ((s[j] - f[j]) / (1.0 + lambda)).powi(2);
                        lf += (lambda * (f[j] - s[j]) / (1.0 + lambda)).powi(2);
                    } else {
                        lp += s[j] * s[j];
                        lf += f[j] * f[j];
                    }
                }
                pre.push(lp);
                ft.push(lf);
            }
            let at = inflection(
                steps,
                &pre.iter().map(|&x| Some(x)).collect::<Vec<_>>(),
                &[],
            );
            TheoryFinetune {
                l2: lambda,
                pretrain_loss: pre,
                finetune_loss: ft,
                inflection_step: at,
            }
        })
        .collect();
    Theory {
        learned_directions,
        perturb,
        finetune,
    }
}
