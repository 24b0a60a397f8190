//! What went wrong with an admin API call, worded for the page and tied to the field the
//! engine blamed.

use std::fmt;

use serde::Deserialize;

/// A failed admin API call: the engine's message where it sent one (`{"error": {...}}`),
/// else what went wrong on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status; None when no answer came.
    pub status: Option<u16>,
    pub message: String,
    /// The request field the engine blamed (`param`), to show the message next to it.
    pub param: Option<String>,
    /// The path asked for.
    pub path: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    param: Option<String>,
}

impl ApiError {
    /// An answer that was not a success: the engine's error JSON if it is one, else the
    /// start of the body.
    pub fn from_response(path: &str, status: u16, body: &str) -> ApiError {
        let (message, param) = match serde_json::from_str::<ErrorBody>(body) {
            // A missing endpoint is the engine's age, whatever its message says.
            _ if status == 404 => (
                format!(
                    "{path} is not offered by this engine (404): it is older than this UI; update lodestar"
                ),
                None,
            ),
            Ok(e) if !e.error.message.is_empty() => (e.error.message, e.error.param),
            _ => {
                let text: String = body.trim().chars().take(300).collect();
                let m = match status {
                    _ if text.is_empty() => format!("{path} answered HTTP {status}"),
                    _ => format!("{path} answered HTTP {status}: {text}"),
                };
                (m, None)
            }
        };
        ApiError {
            status: Some(status),
            message,
            param,
            path: path.to_string(),
        }
    }

    /// No answer at all (the engine stopped, the network is down).
    pub fn network(path: &str, why: &str) -> ApiError {
        ApiError {
            status: None,
            message: format!(
                "cannot reach the engine for {path}: {why}. Is `lodestar serve` running?"
            ),
            param: None,
            path: path.to_string(),
        }
    }

    /// An answer the UI could not read.
    pub fn decode(path: &str, why: &str) -> ApiError {
        ApiError {
            status: None,
            message: format!(
                "{path} answered something this UI cannot read ({why}); the engine and UI versions may differ"
            ),
            param: None,
            path: path.to_string(),
        }
    }

    /// The engine has no database open (storage disabled or failed): pages say so instead
    /// of showing an error.
    pub fn storage_unavailable(&self) -> bool {
        self.status == Some(503)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}
