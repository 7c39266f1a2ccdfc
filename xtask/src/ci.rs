//! `cargo xtask ci`: what `.ci/run` runs, from a developer's shell; and
//! `cargo xtask bench`: every benchmark, with one summary table.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Runs `cargo` with `args` (and `envs`), streaming its output.
fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    println!("\n== cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Every example, in its short mode.
pub(crate) const EXAMPLES: &[&[&str]] = &[
    &["run", "--release", "--example", "quickstart"],
    &["run", "--release", "--example", "copy_logstore"],
    &["run", "--release", "--example", "manual_checkpoint"],
    &["run", "--release", "--example", "tail", "--", "--demo"],
    &["run", "--release", "--example", "exactly_once"],
    &["run", "--release", "--example", "decode"],
];

/// The CI steps, in order (`.ci/run` runs the same).
pub(crate) fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(&["xtask", "codegen", "--check"], &[])?;
    cargo(
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
            "--quiet",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // As in `.ci/run`, which runs on a clean clone; here uncommitted
    // changes are packaged too.
    cargo(
        &[
            "package",
            "--allow-dirty",
            "-p",
            "sls-proto",
            "-p",
            "sls-client",
            "-p",
            "sls-testkit",
            "-p",
            "sls-consumer",
        ],
        &[],
    )?;
    // `cargo install --locked cargo-deny` once (`.ci/run` pins the version).
    cargo(
        &["deny", "--all-features", "check", "licenses", "bans"],
        &[],
    )?;
    cargo(&["test", "--workspace", "--all-features"], &[])?;
    for example in EXAMPLES {
        cargo(example, &[("SLS_EXAMPLE_SHORT", "1")])?;
    }
    println!("\nci: all green");
    Ok(())
}

/// The benchmarks and the lines of their output that go in the summary.
const BENCHES: &[(&str, &str)] = &[
    ("sls-proto", "decode"),
    ("sls-client", "signing"),
    ("sls-testkit", "serve"),
    ("sls-consumer", "e2e"),
];

/// Runs every benchmark and prints one table: for divan's tables, each
/// benchmark's median (and throughput when it has one); for the end-to-end
/// run, its figures.
pub(crate) fn bench() -> Result<()> {
    let mut summary = Vec::new();
    for (package, bench) in BENCHES {
        println!("\n== cargo bench -p {package} --bench {bench}");
        let output = Command::new(env!("CARGO"))
            .args(["bench", "-p", package, "--bench", bench])
            .output()
            .with_context(|| format!("running the {bench} bench"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        print!("{text}");
        if !output.status.success() {
            bail!(
                "the {bench} bench failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        summary.extend(summarize(package, &text));
    }
    println!(
        "\n{:<14} {:<44} {:>12} {:>14}",
        "crate", "benchmark", "median", "throughput"
    );
    for (package, name, median, rate) in summary {
        println!("{package:<14} {name:<44} {median:>12} {rate:>14}");
    }
    Ok(())
}

/// Pulls (crate, name, median, throughput) rows out of a bench's output.
fn summarize(package: &str, text: &str) -> Vec<(String, String, String, String)> {
    let mut rows = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start_matches(['├', '╰', '─', ' ', '│']);
        if line.starts_with('├') || line.starts_with('╰') {
            let columns: Vec<&str> = trimmed.split('│').map(str::trim).collect();
            if columns.len() >= 3 {
                let (name, median) =
                    first_word_and(columns[0], columns.get(2).copied().unwrap_or(""));
                // divan puts throughput on the next line, same columns.
                let rate = lines
                    .get(i + 1)
                    .filter(|next| next.contains("/s"))
                    .and_then(|next| next.split('│').nth(3).map(str::trim))
                    .unwrap_or("")
                    .to_owned();
                rows.push((package.to_owned(), name, median, rate));
            }
        } else if line.contains("MB/s")
            && (line.starts_with("decode only") || line.starts_with("end to end"))
        {
            let (label, rest) = line.split_once(':').unwrap_or((line, ""));
            rows.push((
                package.to_owned(),
                label.trim().to_owned(),
                String::new(),
                rest.trim()
                    .split("MB/s")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned()
                    + " MB/s",
            ));
        }
    }
    rows
}

/// A divan row's first column holds the name then the fastest time.
fn first_word_and(first: &str, median: &str) -> (String, String) {
    let name = first.split_whitespace().next().unwrap_or("").to_owned();
    (name, median.to_owned())
}

/// The consumer's seeded chaos test over `seeds` seeds (a failing seed is
/// printed and replays exactly); `sink` is `SLS_CHAOS_SINK` (`0`: no sink
/// mode; `sqlite` or `memory`).
pub(crate) fn chaos(seeds: &str, sink: &str) -> Result<()> {
    cargo(
        &[
            "test",
            "-p",
            "sls-consumer",
            "--all-features",
            "--release",
            "--test",
            "all",
            "chaos_many",
            "--",
            "--ignored",
            "--nocapture",
        ],
        &[("SLS_CHAOS_SEEDS", seeds), ("SLS_CHAOS_SINK", sink)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_divan_tables_and_e2e_lines() {
        let text = "\
decode                          fastest       │ slowest       │ median        │ mean          │ samples │ iters
├─ lz4_decompress               1.89 ms       │ 4.139 ms      │ 1.954 ms      │ 1.973 ms      │ 100     │ 100
│                               3.357 GB/s    │ 1.532 GB/s    │ 3.246 GB/s    │ 3.214 GB/s    │         │
╰─ view_decode                  12.63 ms      │ 13.9 ms       │ 12.98 ms      │ 12.98 ms      │ 100     │ 100
end to end (fake server, loopback):           1433 MB/s    3703270 logs/s in 53.09ms
";
        let rows = summarize("p", text);
        assert_eq!(rows[0].1, "lz4_decompress");
        assert_eq!(rows[0].2, "1.954 ms");
        assert_eq!(rows[0].3, "3.246 GB/s");
        assert_eq!(rows[1].1, "view_decode");
        assert_eq!(rows[1].3, "");
        assert_eq!(rows[2].3, "1433 MB/s");
    }
}
