//! A test seam for the GPU sampler: with `LODESTAR_FAKE_GPU_FILE=/path.json` set, the engine
//! reads GPUs from that file (a JSON array of the engine's `GpuSample`, re-read at every
//! sample) instead of NVML, so an end-to-end test on a machine without an NVIDIA driver can
//! drive the tray icon. Never used otherwise.
//!
//! The engine's sampler stops for good after its first error (no driver does not come back by
//! itself), so this source never errs: a missing or half-written file gives the last good
//! reading (an empty list before the first one, which the tray shows as "no GPU").
//! Owns reading the file; must not be chosen unless the variable is set.

use std::path::PathBuf;
use std::sync::Mutex;

use lodestar::health::gpu::{GpuSample, GpuSource};

/// The environment variable that turns the seam on.
pub const ENV: &str = "LODESTAR_FAKE_GPU_FILE";

pub struct FileGpuSource {
    path: PathBuf,
    last: Mutex<Vec<GpuSample>>,
}

impl FileGpuSource {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            last: Mutex::new(Vec::new()),
        }
    }

    /// The source named by `LODESTAR_FAKE_GPU_FILE`, if it is set.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(ENV)
            .filter(|v| !v.is_empty())
            .map(|p| Self::new(PathBuf::from(p)))
    }
}

impl GpuSource for FileGpuSource {
    fn sample(&self) -> Result<Vec<GpuSample>, String> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let read = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<GpuSample>>(&b).ok());
        if let Some(gpus) = read {
            *last = gpus;
        }
        Ok(last.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(util: u32) -> String {
        format!(
            r#"[{{"index":0,"name":"Fake","utilization_pct":{util},"memory_used_bytes":1,
                "memory_total_bytes":2,"temperature_c":null,"power_w":null,"processes":[]}}]"#
        )
    }

    #[test]
    fn rereads_the_file_and_keeps_the_last_good_reading() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let path = dir.path().join("gpu.json");
        let src = FileGpuSource::new(path.clone());
        assert_eq!(
            src.sample(),
            Ok(vec![]),
            "no file yet: no GPU, not an error"
        );
        let write = |s: &str| {
            if let Err(e) = std::fs::write(&path, s) {
                panic!("{e}");
            }
        };
        write(&sample(10));
        let util = |src: &FileGpuSource| src.sample().ok().map(|g| g[0].utilization_pct);
        assert_eq!(util(&src), Some(10));
        write(&sample(90));
        assert_eq!(util(&src), Some(90));
        write("[{\"index\":0,");
        assert_eq!(util(&src), Some(90), "half-written: the last good reading");
    }
}
