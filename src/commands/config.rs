//! `--config FILE.toml`: every flag of a subcommand can come from a TOML file, with the
//! command line winning.
//!
//! Keys are the flag names in snake_case (`mask_prob` for `--mask-prob`), either at the
//! top level of the file or in a table named after the subcommand (`[pretrain]`), which
//! wins over the top level. The config becomes extra command-line flags placed before
//! the user's own, for keys the user did not give, so clap validates both alike.

use std::ffi::OsString;
use std::path::Path;

use anyhow::Result;

use crate::error::InputError;

/// Flags for `subcommand` read from the TOML file at `path`, skipping keys whose flag
/// appears in `given` (the user's own arguments).
pub fn config_flags(path: &Path, subcommand: &str, given: &[OsString]) -> Result<Vec<OsString>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::at_path(path, format!("cannot read config: {e}")))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e| InputError::at_path(path, format!("invalid TOML: {e}")))?;
    let mut keys: Vec<(String, toml::Value)> = doc
        .iter()
        .filter(|(_, v)| !v.is_table())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(section) = doc.get(subcommand).and_then(|v| v.as_table()) {
        for (k, v) in section {
            keys.retain(|(k2, _)| k2 != k);
            keys.push((k.clone(), v.clone()));
        }
    }
    let mut flags = Vec::new();
    for (key, value) in keys {
        let flag = format!("--{}", key.replace('_', "-"));
        let on_cli = given.iter().any(|g| {
            let g = g.to_string_lossy();
            g == flag || g.starts_with(&format!("{flag}="))
        });
        if on_cli {
            continue;
        }
        let scalar = |v: &toml::Value| -> Result<String> {
            Ok(match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(InputError::at_path(
                        path,
                        format!("key {key}: expected a string or number, found {other}"),
                    )
                    .into())
                }
            })
        };
        match &value {
            toml::Value::Boolean(true) => flags.push(flag.into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                flags.push(flag.into());
                for item in items {
                    flags.push(scalar(item)?.into());
                }
            }
            v => {
                flags.push(flag.into());
                flags.push(scalar(v)?.into());
            }
        }
    }
    Ok(flags)
}

/// The full argument list with a subcommand's `--config FILE` expanded: `args` is
/// `[program, subcommand, ...]`. Returns `args` unchanged when there is no `--config`
/// (or the subcommand is `pipeline`, which reads its config itself).
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>> {
    let Some(sub) = args.get(1).map(|s| s.to_string_lossy().into_owned()) else {
        return Ok(args);
    };
    let rest = &args[2..];
    let pos = rest
        .iter()
        .position(|a| a == "--config" || a.to_string_lossy().starts_with("--config="));
    let Some(pos) = pos.filter(|_| sub != "pipeline") else {
        return Ok(args);
    };
    let (path, skip) = match rest[pos].to_string_lossy().strip_prefix("--config=") {
        Some(p) => (OsString::from(p), 1),
        None => match rest.get(pos + 1) {
            Some(p) => (p.clone(), 2),
            None => crate::bad_input!("--config needs a file: --config FILE.toml"),
        },
    };
    let mut given: Vec<OsString> = rest[..pos].to_vec();
    given.extend_from_slice(&rest[pos + skip..]);
    let mut out = args[..2].to_vec();
    out.extend(config_flags(Path::new(&path), &sub, &given)?);
    out.extend(given);
    Ok(out)
}
