//! The service's error responses, as the fake server produces them.

/// An error response: status, `errorCode` and `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "ParameterInvalid", message)
    }

    pub(crate) fn not_found(code: &'static str, what: &str) -> Self {
        Self::new(404, code, format!("{what} does not exist"))
    }
}
