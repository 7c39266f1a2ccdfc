//! `sls groups describe GROUP --watch [SECS]`: the description redrawn
//! every SECS seconds until Ctrl-C, like `top`.

use std::io::IsTerminal;
use std::time::Duration;

use crate::conn::Target;
use crate::error::CliError;
use crate::groups::Description;
use crate::output::{Interrupt, print};
use crate::timefmt::{now_micros, rfc3339};

/// Clears a terminal and puts the cursor at the top left (ANSI: cursor
/// home, erase display).
const CLEAR: &str = "\x1b[H\x1b[2J";

/// How the frames are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Each frame over the last (stdout is a terminal).
    Redraw,
    /// Frames one after another, a blank line between them.
    Append,
    /// One compact JSON document per line (JSON lines).
    JsonLines,
}

/// The watch: `every` seconds between frames, stopping after `count`
/// frames if given, else on Ctrl-C. An error on the first frame ends it
/// (an unknown group); later ones are reported on stderr and the next
/// frame tries again, so a network blip does not end a watch.
pub(crate) async fn run(
    target: &Target,
    group: &str,
    json: bool,
    every: u64,
    count: Option<u64>,
) -> Result<String, CliError> {
    let style = match (json, std::io::stdout().is_terminal()) {
        (true, _) => Style::JsonLines,
        (false, true) => Style::Redraw,
        (false, false) => Style::Append,
    };
    let mut interrupt = Interrupt::catch()?;
    let mut frames: u64 = 0;
    loop {
        let read = tokio::select! {
            read = Description::read(target, group) => read,
            () = interrupt.wait() => break,
        };
        match read {
            Ok(description) => {
                let text = match style {
                    Style::JsonLines => format!("{}\n", description.to_json(target)),
                    Style::Redraw | Style::Append => {
                        let lead = if style == Style::Redraw {
                            CLEAR
                        } else if frames > 0 {
                            "\n"
                        } else {
                            ""
                        };
                        format!(
                            "{lead}{}\n\n{}",
                            header(every, group),
                            description.to_table()
                        )
                    }
                };
                if !print(text.as_bytes())? {
                    break;
                }
            }
            Err(err) if frames == 0 => return Err(err),
            Err(err) => eprintln!("sls: {err}"),
        }
        frames += 1;
        if count.is_some_and(|count| frames >= count) {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(every)) => {}
            () = interrupt.wait() => break,
        }
    }
    Ok(String::new())
}

/// `every 2s: sls groups describe etl  (2024-05-01T01:00:00Z)`.
fn header(every: u64, group: &str) -> String {
    format!(
        "every {every}s: sls groups describe {group}  ({})",
        rfc3339(now_micros().div_euclid(1_000_000))
    )
}
