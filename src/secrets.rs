//! API keys from the OS keyring (Secret Service on Linux, Keychain on macOS, Credential
//! Manager on Windows). Entries live under the service name `lodestar`.
//!
//! Owns: reading and writing keyring entries. Must not log or return key material in errors.

/// The keyring service every Lodestar entry is stored under.
pub const KEYRING_SERVICE: &str = "lodestar";

/// Read the key stored as `lodestar` / `entry`. Errors say what to do, never what the key is.
pub fn keyring_get(entry: &str) -> Result<String, String> {
    let e = keyring::Entry::new(KEYRING_SERVICE, entry).map_err(|e| unavailable(entry, &e))?;
    match e.get_password() {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) | Err(keyring::Error::NoEntry) => Err(format!(
            "the OS keyring has no entry `{entry}` for service `{KEYRING_SERVICE}`; store one with \
             `lodestar key set {entry}`, or use `api_key_env` instead"
        )),
        Err(e) => Err(unavailable(entry, &e)),
    }
}

/// Store `secret` as `lodestar` / `entry`.
pub fn keyring_set(entry: &str, secret: &str) -> Result<(), String> {
    let e = keyring::Entry::new(KEYRING_SERVICE, entry).map_err(|e| unavailable(entry, &e))?;
    e.set_password(secret).map_err(|e| unavailable(entry, &e))
}

fn unavailable(entry: &str, e: &keyring::Error) -> String {
    // keyring errors describe the store (no D-Bus session, locked collection), not the secret.
    format!(
        "cannot read keyring entry `{entry}`: the OS keyring is not available ({e}); on a \
         headless machine use `api_key_env` instead"
    )
}
