//! Rust core of `@smashcourts/partner-sync`: signs booking syncs, delivers them to
//! smashpartner.online with bounded retries, and keeps them in a durable outbox.

#![deny(clippy::all)]
// napi registers the exported functions only outside test builds, where they look unused; without
// the `napi` feature nothing calls the core from outside, nor uses what `service` re-exports for the
// bindings. The default build (and clippy) still catches both.
#![cfg_attr(any(test, not(feature = "napi")), allow(dead_code))]
#![cfg_attr(not(feature = "napi"), allow(unused_imports))]

mod abort;
#[cfg(feature = "napi")]
mod bindings;
mod config;
mod delivery;
mod errors;
mod lanes;
mod outbox;
mod payload;
mod policy;
mod service;
mod settings;
mod signing;

#[cfg(test)]
mod tests {
    /// The core (every module outside `bindings/`) uses nothing of the bindings nor of napi, so it
    /// builds and is tested without Node (`cargo test --no-default-features`); napi attributes
    /// behind `cfg_attr(feature = "napi", ...)` are the one exception.
    #[test]
    fn the_core_does_not_depend_on_its_bindings() {
        fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && !path.ends_with("bindings") {
                    sources(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 20, "{files:?}");
        let offending: Vec<String> = files
            .iter()
            .flat_map(|file| {
                let text = std::fs::read_to_string(file).unwrap();
                let lines: Vec<String> = text
                    .lines()
                    .enumerate()
                    .filter(|(_, line)| {
                        // Split, so that this file does not name what it looks for.
                        [
                            concat!("bindings", "::"),
                            concat!("napi", "::"),
                            concat!("use ", "napi"),
                        ]
                        .iter()
                        .any(|used| line.contains(used))
                    })
                    .map(|(n, line)| format!("{}:{}: {}", file.display(), n + 1, line.trim()))
                    .collect();
                lines
            })
            .collect();
        assert!(offending.is_empty(), "{offending:#?}");
    }
}
