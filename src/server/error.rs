//! Every error the proxy answers with, turned into the client's API dialect in one place.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::dispatch::DispatchError;
use crate::providers::Endpoint;
use crate::router::RouteError;

/// An error answer. The message says what happened and what to do; it never carries a key.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// OpenAI's `type`: `invalid_request_error`, `upstream_error`, ...
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    pub message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: message.into(),
        }
    }

    /// The OpenAI error body.
    pub(crate) fn openai_body(&self) -> String {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
        .to_string()
    }
}

impl ApiError {
    /// A hard budget limit stopped the request: 402, which the SDKs raise as a status error
    /// (Anthropic's `billing_error`), with the budget, spend, limit and reset time.
    pub(crate) fn budget(ex: &crate::ledger::Exceeded) -> Self {
        Self {
            status: StatusCode::PAYMENT_REQUIRED,
            kind: "budget_exceeded",
            code: Some("budget_exceeded"),
            param: None,
            message: ex.message(),
        }
    }
}

impl ApiError {
    /// 429 `quota_exceeded`: a project's daily quota is used up.
    pub(crate) fn quota(ex: &crate::ledger::quota::QuotaExceeded) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            code: Some("quota_exceeded"),
            param: None,
            message: ex.to_string(),
        }
    }
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        let (status, code) = match &e {
            RouteError::UnknownModel { .. } => (StatusCode::NOT_FOUND, Some("model_not_found")),
            RouteError::Ambiguous { .. } => (StatusCode::BAD_REQUEST, Some("model_ambiguous")),
            RouteError::NoDefault => (StatusCode::BAD_REQUEST, Some("model_required")),
            RouteError::NothingCanServe { .. } if e.local_only_refusal() => {
                (StatusCode::FORBIDDEN, Some("local_only"))
            }
            RouteError::NothingCanServe { .. } => {
                (StatusCode::BAD_REQUEST, Some("endpoint_unsupported"))
            }
        };
        Self {
            status,
            kind: "invalid_request_error",
            code,
            param: Some("model".into()),
            message: e.to_string(),
        }
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::AllFailed {
                attempts,
                skipped,
                status,
            } => {
                let tried: Vec<String> = attempts
                    .iter()
                    .chain(&skipped)
                    .map(|a| format!("{} ({})", a.target, a.failure))
                    .collect();
                Self {
                    status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    kind: "upstream_error",
                    code: Some(match status {
                        429 => "rate_limited",
                        504 => "upstream_timeout",
                        503 => "all_upstreams_down",
                        _ => "all_upstreams_failed",
                    }),
                    param: None,
                    message: format!(
                        "every route entry failed: {}. Check that the providers are running \
                         and reachable (`lodestar models` lists them), or add a fallback entry",
                        tried.join("; ")
                    ),
                }
            }
            DispatchError::Translate(t) => Self {
                status: StatusCode::BAD_REQUEST,
                kind: "invalid_request_error",
                code: Some("untranslatable"),
                param: Some(t.param),
                message: t.message,
            },
            // Answered verbatim by the handler; this form is only a fallback.
            DispatchError::Refused { status, target, .. } => Self {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                kind: "invalid_request_error",
                code: None,
                param: None,
                message: format!("{target} refused the request"),
            },
        }
    }
}

impl ApiError {
    /// The Anthropic error body (`{type: error, error: {type, message}}`).
    pub(crate) fn anthropic_body(&self) -> String {
        crate::translate::messages::error_body(self.status.as_u16(), &self.message).to_string()
    }

    /// The answer in the dialect of the endpoint the client called.
    pub(crate) fn into_response_for(self, endpoint: Endpoint) -> Response {
        if !endpoint.is_anthropic() {
            return self.into_response();
        }
        let mut r = (self.status, self.anthropic_body()).into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.openai_body()).into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}
