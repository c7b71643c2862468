// How heavy a linear-lab run is, before running it: an estimate of the time of its
// multiply-adds (counted by the wasm's `linear_work`, the Rust side's `LinearConfig::work()`,
// whose cap is 2e11). A run estimated above AUTO_RUN_MAX_S waits for the reader's "Run"
// (www/linear-lab.js); lighter ones start by themselves. Pure functions, no DOM.

/**
 * A conservative rate, in multiply-adds per second, for the whole run: about half of what
 * one WebAssembly worker does on a 2024 laptop or server core (5–9 × 10⁹ measured for
 * `run_linear`, dim 20–128), and the page splits a CPU run over 2–4 workers — so most
 * devices are faster than the estimate, and a slow phone is about as fast.
 */
export const RATE = 3e9;
/** Runs estimated above this many seconds do not start by themselves (6 × 10⁹ multiply-adds). */
export const AUTO_RUN_MAX_S = 2;

/** The estimated seconds of a run of `work` multiply-adds. */
export const estimateSeconds = (work) => work / RATE;

/** A duration as the page says it: "350 ms", "3 s", "2 min" (never "0 s"). */
export const durationText = (s) => (s < 1 ? `${Math.max(1, Math.round(s * 1000))} ms` : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

/** A count of multiply-adds as a reader writes it: "1.9 × 10¹¹". */
export function workText(work) {
  const exp = Math.floor(Math.log10(work));
  const sup = String(exp).replace(/\d/g, (d) => '⁰¹²³⁴⁵⁶⁷⁸⁹'[d]);
  return `${(work / 10 ** exp).toFixed(1)} × 10${sup}`;
}
