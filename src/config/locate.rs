//! Finding the config file: `--config`, then `LODESTAR_CONFIG`, then the platform config dir
//! (`~/.config/lodestar/config.yml` on Linux), else the embedded default.

use std::fmt;
use std::path::{Path, PathBuf};

use super::EnvLookup;

/// Where a config came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    File(PathBuf),
    Embedded,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::File(p) => write!(f, "{}", p.display()),
            ConfigOrigin::Embedded => f.write_str("<embedded default>"),
        }
    }
}

/// The outcome of the search: a file (and which rule found it) or none.
#[derive(Debug, Clone)]
pub struct Located {
    pub path: Option<PathBuf>,
    /// Human words for how it was found: "--config", "LODESTAR_CONFIG", "default location", or
    /// why the embedded default is used.
    pub how: String,
}

/// The platform's config file path for Lodestar (`~/.config/lodestar/config.yml` on Linux).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "lodestar").map(|d| d.config_dir().join("config.yml"))
}

/// Find the config file. An explicitly named file that does not exist is an error: silently
/// falling back to a default would route traffic somewhere the user did not ask for.
pub fn locate(cli: Option<&Path>, env: EnvLookup<'_>) -> Result<Located, String> {
    if let Some(p) = cli {
        return explicit(p, "--config");
    }
    if let Some(p) = env("LODESTAR_CONFIG") {
        return explicit(Path::new(&p), "LODESTAR_CONFIG");
    }
    match default_path() {
        Some(p) => {
            let yaml = p.with_extension("yaml");
            if p.is_file() {
                Ok(Located {
                    path: Some(p),
                    how: "default location".into(),
                })
            } else if yaml.is_file() {
                Ok(Located {
                    path: Some(yaml),
                    how: "default location".into(),
                })
            } else {
                Ok(Located {
                    path: None,
                    how: format!("no config file at {}", p.display()),
                })
            }
        }
        None => Ok(Located {
            path: None,
            how: "no home directory to look for a config file in".into(),
        }),
    }
}

fn explicit(p: &Path, how: &str) -> Result<Located, String> {
    if p.is_file() {
        Ok(Located {
            path: Some(p.to_path_buf()),
            how: how.into(),
        })
    } else {
        Err(format!(
            "{how} names {}, which is not a readable file; create it (see lodestar.example.yaml) \
             or drop {how} to use the default location",
            p.display()
        ))
    }
}
