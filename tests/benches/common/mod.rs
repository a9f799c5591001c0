//! What the benchmarks share: where results go, percentiles, the Markdown summary, and the
//! processes of the function instances the local gateway started.

#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

/// `bench/results/` of the workspace.
pub fn results_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&dir).expect("bench/results");
    dir
}

/// The order of the sections in `bench/results/summary.md`.
const SECTIONS: [&str; 5] = [
    "dynamodb_cost",
    "search",
    "cold_start",
    "throughput",
    "load",
];

/// Writes `<name>.json` and `<name>.md`, then rebuilds `summary.md` from every section present.
pub fn write_results(name: &str, report: &Value, markdown: &str) {
    let dir = results_dir();
    let json = serde_json::to_string_pretty(report).expect("serializes");
    std::fs::write(dir.join(format!("{name}.json")), json + "\n").expect("write json");
    std::fs::write(dir.join(format!("{name}.md")), markdown).expect("write markdown");
    let mut summary = String::from(
        "# Benchmark results\n\nWritten by `make bench` and `make load` (`cargo bench -p e2e`); each section comes \
         from `bench/results/<name>.json`.\n",
    );
    for section in SECTIONS {
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("{section}.md"))) {
            summary.push('\n');
            summary.push_str(&text);
        }
    }
    summary.push_str(
        "\nWhat these numbers mean for the monthly AWS bill of a course: `docs/cost-model.md`.\n",
    );
    std::fs::write(dir.join("summary.md"), summary).expect("write summary");
    println!(
        "wrote {} and {}",
        dir.join(format!("{name}.json")).display(),
        dir.join("summary.md").display()
    );
}

/// The `p`-th percentile (0..=100) of samples, nearest rank.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// `ms` with a precision that suits its size.
pub fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The CPU and core count, for the record (timings mean little without them).
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    serde_json::json!({
        "cpu": cpu,
        "cores": cores,
        "arch": std::env::consts::ARCH,
        "load_average_1m": load_average(),
    })
}

/// The 1-minute load average: how busy the (shared) machine was around a measurement.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One field of `/proc/<pid>/status` (e.g. `VmHWM:`), as written there.
pub fn proc_status_field(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_string())
}

/// A `/proc/<pid>/status` memory field in kB.
pub fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    proc_status_field(pid, field)?
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Processes started by this one (the function instances of an in-process gateway):
/// `(pid, name)`, the name as the kernel keeps it (at most 15 bytes of the binary's name).
pub fn children() -> Vec<(u32, String)> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| proc_status_field(*pid, "PPid:").as_deref() == Some(me.as_str()))
        .filter_map(|pid| Some((pid, proc_status_field(pid, "Name:")?)))
        .collect()
}

/// The kernel's name of a process running `binary`.
pub fn comm_of(binary: &str) -> &str {
    &binary[..binary.len().min(15)]
}

/// Where the function binaries to measure are: `target/release` when every function of the
/// template has a release binary there (`cargo build --release --workspace --bins`), else the
/// debug ones; and which of the two it is.
pub fn function_binaries() -> (PathBuf, &'static str) {
    let release = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release");
    let template = local_gateway::Template::load(&e2e::template()).expect("template");
    if template
        .functions
        .values()
        .all(|f| release.join(&f.binary).is_file())
    {
        (release, "release")
    } else {
        eprintln!(
            "warning: not every function has a release binary \
             (cargo build --release --workspace --bins); measuring the debug binaries"
        );
        (e2e::bin_dir(), "debug")
    }
}
