//! Running the official Python SDK scripts in tests/sdk/ against a proxy.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The Python to run the SDKs with: `LODESTAR_PYTHON`, else `python3`; it must import
/// `modules` (e.g. `"openai, anthropic"`), or the test fails saying how to install them.
pub fn python(modules: &str) -> String {
    let python = std::env::var("LODESTAR_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        probe.status.success(),
        "the SDK packages ({modules}) are missing for {python}: run `{python} -m pip install -r \
         tests/sdk/requirements.txt` (or point LODESTAR_PYTHON at a venv's python)"
    );
    python
}

/// Run `tests/sdk/SCRIPT` with `LODESTAR_BASE_URL=base_url` (and no SDK base-URL variables
/// from the environment); it must pass. Returns (stderr: unittest's report, stdout).
pub async fn run_script(python: &str, script: &str, base_url: &str) -> (String, String) {
    let path = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(python)
        .arg(&path)
        .env("LODESTAR_BASE_URL", base_url)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_BASE_URL")
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed:\n{report}\nstdout:\n{stdout}"
    );
    assert!(report.contains("OK"), "{report}");
    (report, stdout)
}
