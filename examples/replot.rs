//! Redraws the SVG plots of recorded experiment results (after a change to the plots), in
//! place: `cargo run --release --example replot -- docs/results/quick docs/results/paper`.

use overtrain::experiment::ExperimentResults;

fn main() {
    for dir in std::env::args().skip(1) {
        let dir = std::path::Path::new(&dir);
        let text = std::fs::read_to_string(dir.join("results.json"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let results: ExperimentResults =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let plots =
            overtrain::plot::experiment::all_plots(Some(&results), None, &Default::default());
        overtrain::plot::write_svgs(dir, plots).unwrap_or_else(|e| panic!("{e}"));
        println!("redrew {}", dir.display());
    }
}
